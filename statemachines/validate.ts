import aslValidator from 'asl-validator';

/**
 * Checks a definition against the Amazon States Language with asl-validator (JSON schemas, paths,
 * ARNs, transitions) — what Step Functions checks on CreateStateMachine. Returns the errors, empty
 * when the definition is valid.
 *
 * asl-validator builds and compiles its JSON-schema validator anew on every call (150–550 ms on a
 * 2-core machine), so this is for `mobius compile`, tests and opt-in checks — never per execution.
 */
export function aslErrors(definition: unknown): string[] {
  // The validator annotates states with their QueryLanguage: give it a copy, not the caller's object.
  const { isValid, errors } = aslValidator(structuredClone(definition), {
    checkPaths: true,
    checkArn: true,
  });
  return isValid ? [] : errors.map((error) => `${error['Error code']}: ${error.Message}`);
}
