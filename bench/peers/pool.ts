import { resolveTarget } from '../../lib';
import { TYPEORM_DEFAULT_POOL } from '../baselines/raw-postgres';

/** The postgres URL and pool size sasync resolves a target to: every peer gets the same pool size. */
export function postgresPool(target: string): { url: string; max: number } {
  const { url, poolSize } = resolveTarget(target).options as { url: string; poolSize?: number };
  return { url, max: poolSize ?? TYPEORM_DEFAULT_POOL };
}
