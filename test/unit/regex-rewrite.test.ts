// VirtualService rewrite.uriRegexRewrite: Envoy's regex_rewrite semantics (every match replaced,
// RE2's \N rewrite syntax) and the checks validation runs on a pattern and its rewrite.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { regexRewrite, rewriteProblem } from '../../core/routing/regex-rewrite.js';

describe('regex rewrite', () => {
  it("rewrites as Istio's reference example says", () => {
    // HTTPRewrite.uriRegexRewrite: match ^/service/([^/]+)(/.*)$, rewrite \2/instance/\1.
    assert.equal(regexRewrite('/service/foo/v1/api', '^/service/([^/]+)(/.*)$', '\\2/instance/\\1'), '/v1/api/instance/foo');
  });

  it('replaces every non-overlapping match, and leaves a path without one as it is', () => {
    assert.equal(regexRewrite('/a/aa/aaa', 'a+', 'b'), '/b/b/b');
    assert.equal(regexRewrite('/x/y', 'z', 'b'), '/x/y');
  });

  it('reads \\0 as the match and \\\\ as a backslash; $ and everything else are literal', () => {
    assert.equal(regexRewrite('/v1/x', 'v(\\d)', '[\\0|\\1|$1|$&|\\\\]'), '/[v1|1|$1|$&|\\]/x');
  });

  it('gives an empty string for a group that took part in no match', () => {
    assert.equal(regexRewrite('/a', '(a)|(b)', '<\\2>'), '/<>');
  });

  it('names what is wrong with a pattern or a rewrite', () => {
    assert.equal(rewriteProblem('^/(a)(b)$', '/\\2/\\1/\\0'), undefined);
    assert.equal(rewriteProblem('^/(a)$', '/\\2'), '\\2 names group 2, but the pattern has 1 group');
    assert.equal(rewriteProblem('^/a$', '/\\n'), '"\\n" is not a rewrite escape: use \\0 to \\9 for the match and its groups, \\\\ for a backslash');
    assert.equal(rewriteProblem('^/a$', '/x\\'), '"\\" is not a rewrite escape: use \\0 to \\9 for the match and its groups, \\\\ for a backslash');
    assert.match(rewriteProblem('^/(a$', '/x') ?? '', /^the pattern is not a valid regular expression/);
  });
});
