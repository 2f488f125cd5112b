/** What {@link Items.load} resolves to for an item that is not stored (sAsync's Missing). */
export class Missing {
  constructor(
    readonly group: string,
    readonly name: string | number,
  ) {}
}
