#!/usr/bin/env node
// Registers tsx so playbooks, roles and rigger itself load as TypeScript in ONE module graph
// (no build step for users, and no second copy of a role breaking identity checks).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
