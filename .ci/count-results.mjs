#!/usr/bin/env node
// Usage: node .ci/count-results.mjs STEP_FAILURES REPORT.json [REPORT.json ...]
// Prints one line, "N passed, N failed", summing vitest JSON reports (one per Node.js line) and
// the CI steps that failed; exits 1 when anything failed. A test file that failed to load has no
// tests in vitest's counts, so it counts as one failure. A missing or unreadable report adds
// nothing here: the `npm test` step that should have written it has failed and is counted.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Passed and failed tests in one parsed vitest JSON report. */
export function countReport(report) {
  let failed = report.numFailedTests ?? 0;
  for (const file of report.testResults ?? []) {
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed += 1;
  }
  return { passed: report.numPassedTests ?? 0, failed };
}

/** The closing line's numbers for these report files and failed steps. */
export function countResults(reportFiles, stepFailures) {
  let passed = 0;
  let failed = stepFailures;
  for (const file of reportFiles) {
    let report;
    try {
      report = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      console.error(`::: no vitest JSON report at ${file}: ${err.message}`);
      continue;
    }
    const counts = countReport(report);
    console.error(`::: ${file}: ${counts.passed} passed / ${counts.failed} failed`);
    passed += counts.passed;
    failed += counts.failed;
  }
  return { passed, failed };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [stepFailures = '0', ...reportFiles] = process.argv.slice(2);
  const { passed, failed } = countResults(reportFiles, Number(stepFailures) || 0);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}
