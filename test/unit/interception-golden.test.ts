// Golden files of the capture rules. After an intended change: UPDATE_GOLDEN=1 npm test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRules, validateSpec, type InterceptionSpec } from '../../core/interception/rules.js';
import { checkGolden } from '../helpers/golden.js';

const spec: InterceptionSpec = {
  proxyUid: 1337,
  workloads: [{ inboundPort: 15006, outboundPort: 15001, appPorts: [9080, 8080] }],
  excludeInboundPorts: [22, 15000],
  excludeOutboundPorts: [15012],
  excludeOutboundCidrs: ['169.254.169.254/32', 'fd00::/8'],
};

describe('capture rules (golden files)', () => {
  it('builds the IPv4 nat rules', () => checkGolden('iptables-ipv4.rules', buildRules(spec, 'ipv4')));
  it('mirrors them for IPv6, with the IPv6 exclusions only', () => {
    const v6 = buildRules(spec, 'ipv6');
    checkGolden('iptables-ipv6.rules', v6);
    assert.ok(v6.includes('fd00::/8') && !v6.includes('169.254.169.254'));
  });
  it('sends each app of a VM with several services to its own sidecar, told apart by UID', () => {
    const vm: InterceptionSpec = {
      ...spec,
      workloads: [
        { inboundPort: 15006, outboundPort: 15001, dnsPort: 15053, appPorts: [9080], appUid: 1001 },
        { inboundPort: 15106, outboundPort: 15101, dnsPort: 15153, appPorts: [9081], appUid: 1002 },
      ],
    };
    assert.deepEqual(validateSpec(vm), []);
    checkGolden('iptables-vm-two-services.rules', buildRules(vm, 'ipv4'));
  });
  it('names every problem in a bad specification', () => {
    const bad: InterceptionSpec = {
      ...spec,
      proxyUid: -1,
      workloads: [
        { inboundPort: 0, outboundPort: 15001, appPorts: [15001] },
        { inboundPort: 15106, outboundPort: 15101, appPorts: [15001], appUid: 1002 },
      ],
      excludeOutboundCidrs: ['10.0.0.0'],
    };
    assert.deepEqual(validateSpec(bad), [
      'proxyUid: -1 is not a user id',
      'workloads[0].inboundPort: 0 is not a port',
      'workloads[0].appPorts: must not contain the sidecar listener ports',
      "workloads[0].appUid: needed when several workloads share the namespace, so that each one's outbound traffic reaches its own sidecar",
      'workloads[1].appPorts[0]: port 15001 is already captured for workloads[0]',
      'workloads[1].appPorts: must not contain the sidecar listener ports',
      'excludeOutboundCidrs[0]: "10.0.0.0" is not a CIDR',
    ]);
  });
});
