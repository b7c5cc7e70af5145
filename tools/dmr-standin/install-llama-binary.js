#!/usr/bin/env node
// install-llama-binary.js: put node-llama-cpp's prebuilt llama.cpp CPU binary
// package for this machine into node_modules, exactly as package-lock.json
// pins it (version and sha512 integrity).  Called by setup.sh after
// `npm ci --omit=optional`.
//
// Why not let npm install the optional dependencies?  On Linux x64 they
// include the CUDA and Vulkan builds (hundreds of MB) that the stand-in never
// uses, npm has no way to skip single optional dependencies, and package.json
// "overrides" that would stub them break npm 9 (Debian 12's npm).  So: omit
// them all and add the one CPU package with `npm pack` (the ordinary npm
// client, the configured registry), checked against the lock.

'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const here = __dirname;

function cpuPackage() {
  const arch = { x64: 'x64', arm64: 'arm64', arm: 'armv7l', riscv64: 'riscv64' }[process.arch];
  if (process.platform === 'linux' && arch) return `@node-llama-cpp/linux-${arch}`;
  if (process.platform === 'darwin') return process.arch === 'arm64' ? '@node-llama-cpp/mac-arm64-metal' : '@node-llama-cpp/mac-x64';
  if (process.platform === 'win32' && (arch === 'x64' || arch === 'arm64')) return `@node-llama-cpp/win-${arch}`;
  return null;
}

function main() {
  const name = cpuPackage();
  if (!name) {
    console.error(`install-llama-binary: no prebuilt llama.cpp package for ${process.platform}-${process.arch}`);
    return 1;
  }
  const lock = JSON.parse(fs.readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
  const entry = lock.packages && lock.packages[`node_modules/${name}`];
  if (!entry || !entry.version || !entry.integrity) {
    console.error(`install-llama-binary: ${name} is not pinned in package-lock.json`);
    return 1;
  }
  const dest = path.join(here, 'node_modules', name);
  const stampFile = path.join(dest, '.dmr-standin-integrity');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === entry.integrity) return 0;

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dmr-standin-'));
  try {
    const out = execFileSync('npm', ['pack', `${name}@${entry.version}`, '--json', '--loglevel=error'],
      { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const info = JSON.parse(out.slice(out.indexOf('[')))[0];
    const tgz = path.join(tmp, info.filename);
    const [algo, want] = entry.integrity.split('-');
    const got = crypto.createHash(algo).update(fs.readFileSync(tgz)).digest('base64');
    if (got !== want) {
      console.error(`install-llama-binary: ${name}@${entry.version}: integrity mismatch (lock ${entry.integrity}, got ${algo}-${got})`);
      return 1;
    }
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(dest, { recursive: true });
    execFileSync('tar', ['-xzf', tgz, '-C', dest, '--strip-components=1', '--no-same-owner'], { stdio: 'inherit' });
    fs.writeFileSync(stampFile, entry.integrity);
    console.log(`install-llama-binary: ${name}@${entry.version} (${(fs.statSync(tgz).size / 1048576).toFixed(1)} MiB download, integrity checked)`);
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

process.exit(main());
