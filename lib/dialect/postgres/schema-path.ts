import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';

/**
 * With a `schema` in the options, TypeORM makes tables there but the SQL a
 * broker runs (the stores' among it) names tables without a schema, and
 * postgres looks them up on the search_path: public. So every connection of
 * the DataSource starts with `search_path = "<schema>", public`, and the
 * tables, the index checks (current_schema()) and the statements all agree.
 * The user's own startup options are kept, after it.
 */
export function withSchemaPath(options: PostgresConnectionOptions): PostgresConnectionOptions {
  const { schema } = options;
  if (!schema) return options;
  const extra = (options.extra ?? {}) as { options?: string };
  // libpq's options string: words separated by spaces, a backslash escapes the next character.
  const path = `"${schema.replace(/"/g, '""')}",public`.replace(/[\\ ]/g, (c) => `\\${c}`);
  const startup = [`-c search_path=${path}`, extra.options].filter(Boolean).join(' ');
  return { ...options, extra: { ...extra, options: startup } };
}
