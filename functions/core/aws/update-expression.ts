/**
 * Builds DynamoDB UpdateItem/condition expressions with placeholders for every attribute name and
 * value, so reserved words never bite and no placeholder is ever left unused (DynamoDB rejects
 * unused ones).
 */
export class UpdateExpressionBuilder {
  readonly #sets: string[] = [];
  readonly #adds: string[] = [];
  readonly #removes: string[] = [];
  readonly #names: Record<string, string> = {};
  readonly #values: Record<string, unknown> = {};
  #conditions: string[] = [];

  /** Placeholder for an attribute name (`#brState`). */
  name(attribute: string): string {
    const placeholder = `#${attribute.replace(/[^A-Za-z0-9_]/g, '_')}`;
    this.#names[placeholder] = attribute;
    return placeholder;
  }

  /** Placeholder for a value (`:v3`). */
  value(value: unknown): string {
    const placeholder = `:v${Object.keys(this.#values).length}`;
    this.#values[placeholder] = value;
    return placeholder;
  }

  set(attribute: string, value: unknown): this {
    this.#sets.push(`${this.name(attribute)} = ${this.value(value)}`);
    return this;
  }

  /** SET with a right-hand side built from name()/value() placeholders, e.g. `:now + #timeout`. */
  setExpression(attribute: string, expression: string): this {
    this.#sets.push(`${this.name(attribute)} = ${expression}`);
    return this;
  }

  add(attribute: string, amount: number): this {
    this.#adds.push(`${this.name(attribute)} ${this.value(amount)}`);
    return this;
  }

  remove(attribute: string): this {
    this.#removes.push(this.name(attribute));
    return this;
  }

  /** ANDs a condition built from name()/value() placeholders. */
  condition(expression: string): this {
    this.#conditions = [...this.#conditions, `(${expression})`];
    return this;
  }

  build(): {
    UpdateExpression: string;
    ConditionExpression?: string;
    ExpressionAttributeNames: Record<string, string>;
    ExpressionAttributeValues?: Record<string, unknown>;
  } {
    const clauses = [
      this.#sets.length > 0 ? `SET ${this.#sets.join(', ')}` : '',
      this.#adds.length > 0 ? `ADD ${this.#adds.join(', ')}` : '',
      this.#removes.length > 0 ? `REMOVE ${this.#removes.join(', ')}` : '',
    ].filter((clause) => clause !== '');
    if (clauses.length === 0) throw new Error('an update needs at least one SET, ADD or REMOVE');
    return {
      UpdateExpression: clauses.join(' '),
      ...(this.#conditions.length > 0
        ? { ConditionExpression: this.#conditions.join(' AND ') }
        : {}),
      ExpressionAttributeNames: { ...this.#names },
      ...(Object.keys(this.#values).length > 0
        ? { ExpressionAttributeValues: { ...this.#values } }
        : {}),
    };
  }
}
