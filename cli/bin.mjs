#!/usr/bin/env node
// `npx longport-token-broker …`: the CLI is TypeScript, run through tsx (installed by `npm ci`)
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
