/**
 * A target URL of a dialect's scheme that is malformed. `resolveTarget`
 * turns it into a DatabaseError naming every accepted form.
 */
export class TargetSyntaxError extends Error {
  constructor(
    readonly target: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

/** The target with its password replaced by ***, whether or not it parses as a URL. */
export function redactPassword(target: string): string {
  try {
    const url = new URL(target);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    // Up to the LAST @ before the path: a password may itself contain @.
    return target.replace(/(\/\/[^:/@]*:)[^/]*@/, '$1***@');
  }
}
