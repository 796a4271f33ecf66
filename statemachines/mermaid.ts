import type { ChoiceRule, State, StateMachineDefinition, States } from './asl.ts';

/**
 * Renders a state machine as a Mermaid flowchart for docs and `mobius compile --format mermaid`:
 * Tasks as boxes, Choices as diamonds, Maps as subgraphs, error edges dotted.
 */
export function toMermaid(definition: StateMachineDefinition): string {
  const lines = ['flowchart TD'];
  const ids = new Map<string, string>();
  const idOf = (scope: string, name: string) => {
    const key = `${scope}/${name}`;
    let id = ids.get(key);
    if (id === undefined) {
      id = `s${ids.size}`;
      ids.set(key, id);
    }
    return id;
  };
  lines.push(`  start(( )) --> ${idOf('', definition.StartAt)}`);
  render('', definition.States, '  ');
  return `${lines.join('\n')}\n`;

  function render(scope: string, states: States, indent: string): void {
    for (const [name, state] of Object.entries(states)) {
      const id = idOf(scope, name);
      if (state.Type === 'Map') {
        const inner = `${scope}/${name}`;
        lines.push(`${indent}subgraph ${id} ["${label(name)} · Map over ${state.ItemsPath}"]`);
        lines.push(`${indent}  ${id}_start(( )) --> ${idOf(inner, state.ItemProcessor.StartAt)}`);
        render(inner, state.ItemProcessor.States, `${indent}  `);
        lines.push(`${indent}end`);
      } else {
        lines.push(`${indent}${id}${shape(name, state)}`);
      }
      for (const [target, edge, dotted] of edges(state)) {
        const arrow = dotted ? `-.->|"${label(edge)}"|` : edge ? `-->|"${label(edge)}"|` : '-->';
        lines.push(`${indent}${id} ${arrow} ${idOf(scope, target)}`);
      }
    }
  }
}

function label(text: string): string {
  return text.replace(/"/g, '#quot;');
}

function shape(name: string, state: State): string {
  switch (state.Type) {
    case 'Task': {
      const resource = state.Resource.split(':::')[1] ?? state.Resource;
      return `["${label(name)}<br/><small>${label(resource)}</small>"]`;
    }
    case 'Choice':
      return `{"${label(name)}"}`;
    case 'Succeed':
      return `(["${label(name)}"])`;
    case 'Fail':
      return `[["${label(name)} ✗"]]`;
    default:
      return `("${label(name)}")`;
  }
}

function edges(state: State): [string, string, boolean][] {
  const result: [string, string, boolean][] = [];
  if ('Next' in state && state.Next !== undefined) result.push([state.Next, '', false]);
  if (state.Type === 'Task' || state.Type === 'Map') {
    for (const c of state.Catch ?? []) result.push([c.Next, c.ErrorEquals.join(', '), true]);
  }
  if (state.Type === 'Choice') {
    for (const rule of state.Choices)
      if (rule.Next) result.push([rule.Next, describe(rule), false]);
    if (state.Default) result.push([state.Default, 'otherwise', false]);
  }
  return result;
}

function describe(rule: ChoiceRule): string {
  if (rule.Not) return `not ${describe(rule.Not)}`;
  if (rule.And) return rule.And.map(describe).join(' and ');
  const variable = rule.Variable ?? '';
  if (rule.IsPresent !== undefined) return `${variable} ${rule.IsPresent ? 'present' : 'absent'}`;
  if (rule.BooleanEquals !== undefined) return `${variable} = ${rule.BooleanEquals}`;
  if (rule.NumericGreaterThan !== undefined) return `${variable} > ${rule.NumericGreaterThan}`;
  if (rule.NumericGreaterThanEqualsPath !== undefined)
    return `${variable} ≥ ${rule.NumericGreaterThanEqualsPath}`;
  return variable;
}
