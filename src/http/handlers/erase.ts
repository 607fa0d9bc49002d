// DELETE /messages/{message_id} and DELETE /messages?from= (SPEC "Erasure"): admin tokens only, one
// audit line at WARNING per erasure that names the token and the target by fingerprint, never the text.
import { parseEraseQuery } from '../../domain/export-query.ts';
import type { Logger } from '../../observability/logger.ts';
import type { EraseTarget, Store } from '../../store/store.ts';
import { bearerCheck, fingerprint, notAuthenticated } from '../auth.ts';
import type { Req } from '../request.ts';
import { json, type Reply } from '../response.ts';
import type { Handler } from '../router.ts';

export type EraseDeps = {
  store: Store;
  logger: Logger;
  /** ADMIN_TOKENS; empty: erasure disabled (403). */
  adminTokens: readonly string[];
  onErased(rows: number): void;
  onAuthFailure(): void;
};

const DISABLED = { detail: 'erasure disabled: set ADMIN_TOKENS' };

/** The two DELETE handlers, sharing the admin check and the audit line. */
export function createEraseHandlers(deps: EraseDeps): { byId: Handler; bySender: Handler } {
  const { store, logger, adminTokens } = deps;
  const check = bearerCheck(adminTokens);
  const fingerprints = adminTokens.map(fingerprint);
  // Authorised first, then the request is read: a caller without a token learns nothing about it.
  const admin =
    (target: (req: Req) => EraseTarget | Reply, answer: (deleted: number) => Reply) =>
    async (req: Req): Promise<Reply> => {
      if (adminTokens.length === 0) return json(403, DISABLED, { logLevel: 'WARNING' });
      const { given, index } = check(req);
      if (index === null) {
        deps.onAuthFailure();
        return notAuthenticated(given);
      }
      const wanted = target(req);
      if ('status' in wanted) return wanted;
      const audit = (fields: Record<string, unknown>): void =>
        logger.warning('erasure', {
          request_id: req.requestId,
          admin_token: fingerprints[index],
          ...('messageId' in wanted ? { message_id: wanted.messageId } : { sender_fingerprint: fingerprint(wanted.from) }),
          ...fields,
        });
      let deleted: number;
      try {
        deleted = await store.erase(wanted);
      } catch (err) {
        // Batches committed before the failure stay erased: the trail says the request was made and must be repeated.
        audit({ failed: true, error: err instanceof Error ? err.message : String(err) });
        throw err;
      }
      deps.onErased(deleted);
      audit({ deleted });
      return answer(deleted);
    };
  return {
    byId: admin(
      (req) => ({ messageId: req.params.message_id ?? '' }),
      (deleted) => (deleted === 0 ? json(404, { detail: 'message not found' }) : json(200, { deleted })),
    ),
    bySender: admin(
      (req) => {
        const parsed = parseEraseQuery(req.query);
        return parsed.ok ? { from: parsed.value.from } : json(422, { detail: parsed.errors });
      },
      (deleted) => json(200, { deleted }),
    ),
  };
}
