import { SerializationError } from '../errors';

/**
 * A value to bind as JSON text, made by {@link json}. Plain objects and
 * arrays are refused as parameters (a driver would turn them into text of its
 * own choosing, or a postgres array); this marker says that JSON is meant.
 */
export class JsonParameter {
  /** The JSON text that is bound. */
  readonly text: string;

  /** @internal Use {@link json}. */
  constructor(text: string) {
    this.text = text;
    Object.freeze(this);
  }
}

/**
 * Marks `value` to be bound as its JSON text (`JSON.stringify`, taken now, so
 * later changes to `value` are not seen): into a `json` or `jsonb` column on
 * postgres, as text on sqlite.
 *
 * ```ts
 * broker.query('INSERT INTO docs (body) VALUES ($1)', [json({ tags: ['a'] })]);
 * ```
 * @throws SerializationError when `value` has no JSON text (undefined, a
 *   function, a BigInt, a cycle).
 */
export function json(value: unknown): JsonParameter {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new SerializationError(`json(value) cannot make JSON text of this value: ${reason}`, { cause });
  }
  if (text === undefined) {
    throw new SerializationError(
      `json(value) cannot make JSON text of ${typeof value}: pass an object, array, string, number, boolean or null`,
    );
  }
  return new JsonParameter(text);
}
