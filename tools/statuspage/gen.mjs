#!/usr/bin/env node
// gen.mjs: the status page (tools/statuspage/page.html) as a C header,
// src/ngx_olla_dmr_page.h, for olla_status to serve at ui/.
//
//   node tools/statuspage/gen.mjs           write the header ("make page")
//   node tools/statuspage/gen.mjs --check   exit 1 when the committed header
//                                           is not what page.html makes
//   node tools/statuspage/gen.mjs --csp     print the Content-Security-Policy
//
// The header defines
//   NGX_OLLA_DMR_PAGE       the page, byte for byte, as one string literal
//   NGX_OLLA_DMR_PAGE_CSP   the Content-Security-Policy the page needs: its
//                           one inline <script> and one inline <style> are
//                           allowed by their SHA-256 hashes, and nothing
//                           else but fetch() to the same origin and data:
//                           images (the favicon)
//   NGX_OLLA_DMR_PAGE_ETAG  a strong ETag (quoted) derived from the page
//
// The page is checked first: no external resource, no inline event handler
// nor style attribute (the CSP would block them), exactly one <script> and
// one <style> element without attributes.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const PAGE = path.join(here, 'page.html');
export const HEADER = path.join(ROOT, 'src', 'ngx_olla_dmr_page.h');

const WIDTH = 80;

function sha256b64(text) {
  return crypto.createHash('sha256').update(text, 'utf8').digest('base64');
}

// The one element <tag>...</tag>; its text is what the browser hashes.
function only(html, tag) {
  const re = new RegExp(`<${tag}(\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'gi');
  const all = [...html.matchAll(re)];
  if (all.length !== 1) {
    throw new Error(`page.html: ${all.length} <${tag}> elements, want exactly one`);
  }
  if (all[0][1] && all[0][1].trim()) {
    throw new Error(`page.html: <${tag}${all[0][1]}>: no attributes please`);
  }
  return all[0][2];
}

export function lint(html) {
  const problems = [];
  const tags = html.replace(/<script>[\s\S]*?<\/script>/i, '')
    .replace(/<style>[\s\S]*?<\/style>/i, '');
  for (const m of tags.matchAll(/<[a-z][^>]*>/gi)) {
    const t = m[0];
    if (/\son[a-z]+\s*=/i.test(t)) problems.push(`inline event handler: ${t}`);
    if (/\sstyle\s*=/i.test(t)) problems.push(`style attribute: ${t}`);
    if (/\ssrc\s*=/i.test(t)) problems.push(`external resource: ${t}`);
    const href = /\shref\s*=\s*"([^"]*)"/i.exec(t);
    if (href && /^(?:[a-z]+:)?\/\//i.test(href[1])) {
      problems.push(`absolute link: ${t}`);
    }
  }
  if (/@import|url\(\s*['"]?(?:https?:)?\/\//i.test(only(html, 'style'))) {
    problems.push('the stylesheet loads something');
  }
  if (problems.length) throw new Error(`page.html:\n  ${problems.join('\n  ')}`);
}

export function csp(html) {
  return [
    "default-src 'none'",
    `script-src 'sha256-${sha256b64(only(html, 'script'))}'`,
    `style-src 'sha256-${sha256b64(only(html, 'style'))}'`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

// One byte of the page inside a C string literal.
function cbyte(b, prev) {
  if (b === 0x5c) return '\\\\';
  if (b === 0x22) return '\\"';
  if (b === 0x0a) return '\\n';
  if (b === 0x09) return '\\t';
  if (b === 0x3f && prev === 0x3f) return '\\?';          // no trigraphs
  if (b >= 0x20 && b < 0x7f) return String.fromCharCode(b);
  return '\\' + b.toString(8).padStart(3, '0');
}

// The bytes as string literals of at most `room` characters each, one per
// line of the page (a long line is cut between two escapes).
function literals(buf, room) {
  const out = [];
  let cur = '';
  let prev = -1;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    let e = cbyte(b, prev);
    if (cur.length + e.length > room) {
      out.push(cur);
      cur = '';
      if (b === 0x3f) e = '?';                             // new literal
    }
    cur += e;
    prev = b;
    if (b === 0x0a) {
      out.push(cur);
      cur = '';
      prev = -1;
    }
  }
  if (cur) out.push(cur);
  return out;
}

// #define NAME followed by the literals, each on its own continued line,
// the backslashes in the last column.
function define(name, pieces) {
  const cont = (s) => s + ' '.repeat(Math.max(1, WIDTH - 1 - s.length)) + '\\';
  const lines = [cont(`#define ${name}`)];
  pieces.forEach((p, i) => {
    const s = `    "${p}"`;
    lines.push(i === pieces.length - 1 ? s : cont(s));
  });
  return lines.join('\n');
}

export function header(html) {
  lint(html);
  const buf = Buffer.from(html, 'utf8');
  const policy = csp(html);
  const etag = crypto.createHash('sha256').update(buf).digest('hex').slice(0, 32);
  const room = WIDTH - 4 - 2 - 2;
  const cspPieces = [];
  for (const part of policy.split('; ')) {
    const s = cspPieces.length ? `; ${part}` : part;
    const last = cspPieces[cspPieces.length - 1];
    if (last !== undefined && last.length + s.length <= room) {
      cspPieces[cspPieces.length - 1] += s;
    } else {
      cspPieces.push(s);
    }
  }
  return `
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Generated by tools/statuspage/gen.mjs from tools/statuspage/page.html
 * ("make page"; "node tools/statuspage/gen.mjs --check" tells whether it is
 * stale); do not edit.  The status page olla_status serves at ui/ (${buf.length}
 * bytes), the Content-Security-Policy it needs (the SHA-256 hashes of its
 * one inline script and one inline style) and its ETag.
 */


#ifndef _NGX_OLLA_DMR_PAGE_H_INCLUDED_
#define _NGX_OLLA_DMR_PAGE_H_INCLUDED_


${define('NGX_OLLA_DMR_PAGE_CSP', cspPieces.map((p) => p.replace(/\\/g, '\\\\').replace(/"/g, '\\"')))}

#define NGX_OLLA_DMR_PAGE_ETAG  "\\"${etag}\\""

${define('NGX_OLLA_DMR_PAGE', literals(buf, room))}


#endif /* _NGX_OLLA_DMR_PAGE_H_INCLUDED_ */
`;
}

function main(argv) {
  const html = fs.readFileSync(PAGE, 'utf8');
  if (argv.includes('--csp')) {
    lint(html);
    console.log(csp(html));
    return 0;
  }
  const want = header(html);
  const rel = path.relative(process.cwd(), HEADER) || HEADER;
  if (argv.includes('--check')) {
    let have = '';
    try { have = fs.readFileSync(HEADER, 'utf8'); } catch { /* missing */ }
    if (have !== want) {
      console.error(`statuspage: ${rel} is stale: run "make page" and commit it`);
      return 1;
    }
    console.log(`statuspage: ${rel} is up to date`);
    return 0;
  }
  let have = '';
  try { have = fs.readFileSync(HEADER, 'utf8'); } catch { /* missing */ }
  if (have === want) {
    console.log(`statuspage: ${rel} is up to date`);
  } else {
    fs.writeFileSync(HEADER, want);
    console.log(`statuspage: wrote ${rel} (${Buffer.byteLength(html)} bytes of page)`);
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exit(main(process.argv.slice(2)));
  } catch (e) {
    console.error(`statuspage: ${e.message}`);
    process.exit(1);
  }
}
