// Checks an instance registration before any catalog sees it.
import type { InstanceRegistration } from './catalog-model.js';
import { parseDurationMs } from './duration.js';
import { validationFailed, type Violation } from './errors.js';
import { isPlainObject, map, obj, port, str } from './resources/schema.js';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const durationText = str({
  check: (s) => {
    const r = parseDurationMs(s);
    return typeof r === 'string' ? r : undefined;
  },
});

const schema = obj(
  {
    id: str({ nonEmpty: true, pattern: /^[A-Za-z0-9._:-]+$/, patternHint: 'may hold letters, digits and . _ : - only' }),
    service: str({ nonEmpty: true, pattern: NAME, patternHint: 'is not a valid service name: lowercase letters, digits and "-"' }),
    namespace: str({ pattern: NAME, patternHint: 'is not a valid namespace' }),
    address: str({ nonEmpty: true }),
    port,
    protocol: str({ enum: ['http', 'http2', 'grpc', 'tcp'] }),
    labels: map(str()),
    sidecar: obj({ inboundPort: port, statusPort: port }, { required: ['inboundPort'] }),
    serviceAccount: str({ pattern: NAME, patternHint: 'is not a valid service account name: lowercase letters, digits and "-"' }),
    check: obj(
      { http: str({ pattern: /^https?:\/\//, patternHint: 'must be an http(s) URL' }), tcp: str({ pattern: /^.+:\d+$/, patternHint: 'must be host:port' }), ttl: durationText, interval: durationText },
      { oneOf: [{ fields: ['http', 'tcp', 'ttl'], exactlyOne: true }] },
    ),
  },
  { required: ['id', 'service', 'address', 'port'] },
);

export function validateRegistration(input: unknown): InstanceRegistration {
  const out: Violation[] = [];
  schema(input, '', out);
  if (out.length > 0 || !isPlainObject(input)) throw validationFailed('instance registration', out);
  return input as unknown as InstanceRegistration;
}
