/** `longport-token-broker …`: see `--help`, or the README's "CLI" section. */
import { processIo } from './output.js';
import { run } from './program.js';

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

process.exitCode = await run(process.argv.slice(2), processIo, process.env, readStdin);
