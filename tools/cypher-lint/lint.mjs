// Checks Cypher statements with Neo4j's own parser and semantic analysis
// (@neo4j-cypher/language-support: the ANTLR grammar of Neo4j's Cypher plus the Neo4j
// front-end compiled to JavaScript).
//
// Input: the JSON list that render_statements.py prints ([{file, name, variant, templated,
// index, count, statement}]), from a file argument or stdin. Every diagnostic of severity
// Error fails the check (syntax errors and semantic errors such as an undefined variable);
// "Parameter $x is not defined" is ignored because parameters are bound at run time.
// Warnings are printed and do not fail. Exit 0: all statements valid; 1: errors; 2: bad input.
//
// Usage: node lint.mjs [statements.json] [--cypher-version "CYPHER 5"]
import { readFileSync } from 'node:fs';
import {
  lintCypherQuery,
  parseStatementsStrs,
  isNotParamError,
  allCypherVersions,
} from '@neo4j-cypher/language-support';

const ERROR = 1;
const WARNING = 2;

function parseArgs(argv) {
  const args = { input: null, version: 'CYPHER 5' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cypher-version') args.version = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: node lint.mjs [statements.json] [--cypher-version "CYPHER 5"]');
      process.exit(0);
    } else args.input = argv[i];
  }
  if (!allCypherVersions.includes(args.version)) {
    console.error(`cypher-lint: unknown Cypher version ${JSON.stringify(args.version)}; one of ${allCypherVersions.join(', ')}`);
    process.exit(2);
  }
  return args;
}

function where(item) {
  const variant = item.variant && item.variant !== 'plain' ? `, ${item.variant} slots` : '';
  return `${item.file}: statement ${item.index} of ${item.count}${variant}`;
}

function position(diagnostic) {
  const start = diagnostic.range?.start;
  return start ? `line ${start.line + 1}, column ${start.character + 1}` : 'position unknown';
}

function lintStatements(items, version) {
  const errors = [];
  const warnings = [];
  for (const item of items) {
    const text = item.statement;
    const problems = [];
    if (item.templated && item.count > 1 && item.index === 1) {
      problems.push({ severity: ERROR, message: `the template renders to ${item.count} statements but CypherLibrary.render runs it as one query` });
    }
    const parts = parseStatementsStrs(text);
    if (parts.length !== 1) {
      problems.push({ severity: ERROR, message: `expected exactly one statement, the parser found ${parts.length} (is a ';' not at a line end?)` });
    }
    const { diagnostics } = lintCypherQuery(text, { defaultLanguage: version }, { consoleCommandsEnabled: false });
    problems.push(...diagnostics.filter(isNotParamError));
    for (const p of problems) {
      const line = `${where(item)}: ${p.range ? position(p) + ': ' : ''}${p.message}\n    ${text.replace(/\n/g, '\n    ')}`;
      if (p.severity === ERROR) errors.push(line);
      else if (p.severity === WARNING) warnings.push(line);
    }
  }
  return { errors, warnings };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  let items;
  try {
    items = JSON.parse(readFileSync(args.input ?? 0, 'utf8'));
  } catch (err) {
    console.error(`cypher-lint: cannot read the statement list: ${err.message}`);
    process.exit(2);
  }
  if (!Array.isArray(items) || items.length === 0) {
    console.error('cypher-lint: no statements to check (the statement list is empty)');
    process.exit(2);
  }
  const { errors, warnings } = lintStatements(items, args.version);
  for (const w of warnings) console.error(`warning: ${w}`);
  for (const e of errors) console.error(`error: ${e}`);
  const files = new Set(items.map((i) => i.file)).size;
  if (errors.length) {
    console.error(`cypher-lint: ${errors.length} error(s) in ${items.length} statements from ${files} files (${args.version})`);
    process.exit(1);
  }
  console.log(`cypher-lint: ${items.length} statements from ${files} files are valid ${args.version} (${warnings.length} warnings)`);
}

main();
