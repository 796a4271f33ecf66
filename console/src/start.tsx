/**
 * Start a coordination: from one of the example requests (examples/requests/*.json, served at
 * /console/examples) or a pasted one. The run's page opens as soon as the API names the run, and
 * follows it live from there.
 */
import { useEffect, useState } from 'preact/hooks';
import { call, messageOf, startCoordination } from './api.ts';
import { runHref } from './coordinations.tsx';
import type { ExampleRequest } from './types.ts';

export function StartPage() {
  const [examples, setExamples] = useState<readonly ExampleRequest[]>([]);
  const [chosen, setChosen] = useState('');
  const [text, setText] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [starting, setStarting] = useState(false);

  useEffect(() => {
    call<{ examples: ExampleRequest[] }>('GET', '/console/examples')
      .then(({ examples: found }) => {
        setExamples(found);
        const first = found[0];
        if (first !== undefined) {
          setChosen(first.name);
          setText(JSON.stringify(first.request, null, 2));
        }
      })
      .catch((error: unknown) => setProblem(`No examples: ${messageOf(error)}`));
  }, []);

  const choose = (name: string) => {
    setChosen(name);
    const example = examples.find((e) => e.name === name);
    if (example !== undefined) setText(JSON.stringify(example.request, null, 2));
  };

  const start = async (event: Event) => {
    event.preventDefault();
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch (error) {
      setProblem(`The request is not JSON: ${messageOf(error)}`);
      return;
    }
    setStarting(true);
    setProblem(undefined);
    try {
      const id = await startCoordination(request);
      window.location.hash = runHref(id);
    } catch (error) {
      setProblem(messageOf(error));
    } finally {
      setStarting(false);
    }
  };

  return (
    <section>
      <h2>Start a coordination</h2>
      <form class="start" onSubmit={start}>
        <label>
          example{' '}
          <select
            data-testid="start-example"
            value={chosen}
            onChange={(e) => choose((e.target as HTMLSelectElement).value)}
          >
            {examples.map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        <p class="quiet small">
          Or paste a request: pattern, agents or steps, payload, and <code>"mode": "standard"</code>{' '}
          for a durable run you can cancel.
        </p>
        <textarea
          data-testid="start-request"
          spellcheck={false}
          rows={18}
          value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        />
        {problem && (
          <p class="problem" data-testid="start-error">
            {problem}
          </p>
        )}
        <div>
          <button type="submit" class="primary" data-testid="start-submit" disabled={starting}>
            {starting ? 'Starting…' : 'Start'}
          </button>
        </div>
      </form>
    </section>
  );
}
