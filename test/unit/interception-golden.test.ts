// Golden files of the capture rules. After an intended change: UPDATE_GOLDEN=1 npm test.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildRules, validateSpec, type InterceptionSpec } from '../../core/interception/rules.js';

const golden = new URL('../../../test/golden/', import.meta.url);
const spec: InterceptionSpec = {
  proxyUid: 1337,
  inboundPort: 15006,
  outboundPort: 15001,
  appPorts: [9080, 8080],
  excludeInboundPorts: [22, 15000],
  excludeOutboundPorts: [15012],
  excludeOutboundCidrs: ['169.254.169.254/32', 'fd00::/8'],
};

function check(name: string, text: string): void {
  const path = new URL(name, golden);
  if (process.env.UPDATE_GOLDEN || !existsSync(path)) {
    if (process.env.CI && !existsSync(path)) assert.fail(`golden file ${name} is missing; run UPDATE_GOLDEN=1 npm test and commit it`);
    writeFileSync(path, text);
    return;
  }
  assert.equal(text, readFileSync(path, 'utf8'), `rules differ from test/golden/${name}; if intended, run UPDATE_GOLDEN=1 npm test`);
}

describe('capture rules (golden files)', () => {
  it('builds the IPv4 nat rules', () => check('iptables-ipv4.rules', buildRules(spec, 'ipv4')));
  it('mirrors them for IPv6, with the IPv6 exclusions only', () => {
    const v6 = buildRules(spec, 'ipv6');
    check('iptables-ipv6.rules', v6);
    assert.ok(v6.includes('fd00::/8') && !v6.includes('169.254.169.254'));
  });
  it('names every problem in a bad specification', () => {
    assert.deepEqual(validateSpec({ ...spec, proxyUid: -1, inboundPort: 0, appPorts: [15001], excludeOutboundCidrs: ['10.0.0.0'] }), [
      'proxyUid: -1 is not a user id',
      'inboundPort: 0 is not a port',
      'excludeOutboundCidrs[0]: "10.0.0.0" is not a CIDR',
      'appPorts: must not contain the sidecar listener ports',
    ]);
  });
});
