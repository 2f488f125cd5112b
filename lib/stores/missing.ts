/** What {@link Items.load} resolves to for an item that is not stored (sAsync's Missing). */
export class Missing {
  constructor(
    /** The group that was asked. */
    readonly group: string,
    /** The name that has no item. */
    readonly name: string | number,
  ) {}
}
