#!/usr/bin/env node
// The `ballast` command. Ballast runs its TypeScript sources directly and needs Node >= 22.12
// (Node 24 LTS); `tools/node.sh` in the repository provides it.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`ballast: needs Node.js >= 22.12 (this is ${process.version}); run it with tools/node.sh or npm start`);
  process.exit(2);
}
await import('../src/main.ts');
