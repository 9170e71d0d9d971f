import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import { MAX_IMAGE_NAME_CHARS, isImageReference, parseImageReference } from '../../src/sandbox/image-reference.js';

const SHA256 = 'a'.repeat(64);
const SHA512 = '0123456789abcdef'.repeat(8);

describe('parseImageReference accepts what the engine accepts', () => {
  it.each([
    ['ubuntu', { domain: null, path: 'ubuntu', tag: null, digest: null }],
    ['ubuntu:22.04', { domain: null, path: 'ubuntu', tag: '22.04', digest: null }],
    ['bosun-sandbox:latest', { domain: null, path: 'bosun-sandbox', tag: 'latest', digest: null }],
    ['localhost:5000/a/b:c', { domain: 'localhost:5000', path: 'a/b', tag: 'c', digest: null }],
    ['localhost/a', { domain: 'localhost', path: 'a', tag: null, digest: null }],
    [`a@sha256:${SHA256}`, { domain: null, path: 'a', tag: null, digest: `sha256:${SHA256}` }],
    [`a:1.0@sha256:${SHA256}`, { domain: null, path: 'a', tag: '1.0', digest: `sha256:${SHA256}` }],
    [`a@sha512:${SHA512}`, { domain: null, path: 'a', tag: null, digest: `sha512:${SHA512}` }],
    ['registry.example.com/x/y', { domain: 'registry.example.com', path: 'x/y', tag: null, digest: null }],
    ['registry.example.com:443/x/y:v1', { domain: 'registry.example.com:443', path: 'x/y', tag: 'v1', digest: null }],
    ['127.0.0.1:5000/img', { domain: '127.0.0.1:5000', path: 'img', tag: null, digest: null }],
    ['[::1]:5000/img:t', { domain: '[::1]:5000', path: 'img', tag: 't', digest: null }],
    ['Registry.io/img', { domain: 'Registry.io', path: 'img', tag: null, digest: null }],
    ['team/image', { domain: null, path: 'team/image', tag: null, digest: null }],
    ['a.b_c__d-e---f', { domain: null, path: 'a.b_c__d-e---f', tag: null, digest: null }],
    ['localhost:5000', { domain: null, path: 'localhost', tag: '5000', digest: null }],
    ['ubuntu:Latest_1.x-Y', { domain: null, path: 'ubuntu', tag: 'Latest_1.x-Y', digest: null }],
    [`ubuntu:${'t'.repeat(128)}`, { domain: null, path: 'ubuntu', tag: 't'.repeat(128), digest: null }],
    // Image ids, as the engine's lookup and create take them.
    [SHA256, { domain: null, path: SHA256, tag: null, digest: null }],
    [`sha256:${SHA256}`, { domain: null, path: 'sha256', tag: SHA256, digest: null }],
    ['e8727d82843e', { domain: null, path: 'e8727d82843e', tag: null, digest: null }],
  ])('%s', (input, parts) => {
    expect(parseImageReference(input)).toEqual(parts);
    expect(isImageReference(input)).toBe(true);
  });

  it('accepts a name of exactly 255 characters once normalized (docker.io/library/ is implied)', () => {
    const path = 'a'.repeat(MAX_IMAGE_NAME_CHARS - 'docker.io/library/'.length);
    expect(isImageReference(path)).toBe(true);
    expect(isImageReference(`${path}a`)).toBe(false);
    const withDomain = `r.io/${'b'.repeat(MAX_IMAGE_NAME_CHARS - 5)}`;
    expect(withDomain).toHaveLength(255);
    expect(isImageReference(`${withDomain}:tag`)).toBe(true);
    expect(isImageReference(`${withDomain}b`)).toBe(false);
  });
});

describe('parseImageReference refuses what the engine refuses or redirects', () => {
  it.each([
    ['a/', /path component is empty/],
    ['/a', /path component is empty/],
    ['a//b', /path component is empty/],
    ['a/./b', /path component "\."/],
    ['a/../b', /path component "\.\."/],
    ['.', /path component "\."/],
    ['A', /must be lowercase/],
    ['UPPERCASE', /must be lowercase/],
    ['registry.io/Team/x', /must be lowercase/],
    // A domain for newer engines, an uppercase path for 20.10: refused, as the older engine does.
    ['Registry/img', /must be lowercase/],
    ['a:b:c', /one tag at most/],
    ['a:', /tag after ":" is empty/],
    [':tag', /name is empty/],
    ['a:.x', /the tag must be/],
    ['a:-x', /the tag must be/],
    [`a:${'t'.repeat(129)}`, /the tag must be/],
    ['a@sha256:short', /64 lowercase hex/],
    [`a@sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
    [`a@md5:${SHA256}`, /sha256:, sha384: or sha512:/],
    [`a@${SHA256}`, /sha256:, sha384: or sha512:/],
    [`a@sha256:${SHA256}@sha256:${SHA256}`, /more than one @/],
    ['a@', /digest/],
    ['', /empty/],
    ['a..b', /path component/],
    ['a___b', /path component/],
    ['-a', /path component/],
    ['a-', /path component/],
    ['a b', /whitespace/],
    ['a\u0000', /control character/],
    ['a\nb', /whitespace/],
    ['exa_mple.com/x', /registry "exa_mple.com"/],
    ['example.com:port/x', /bad port/],
    ['-bad.com/x', /registry/],
    ['a'.repeat(300), /longer than 255/],
    [`r.io/${'b'.repeat(300)}`, /longer than 255/],
    ['x'.repeat(10_000), /longer than 255/],
  ])('%j', (input, why) => {
    expect(() => parseImageReference(input)).toThrow(InvalidValueError);
    expect(() => parseImageReference(input)).toThrow(why);
    expect(() => parseImageReference(input)).toThrow(/^Expected an image reference such as bosun-sandbox:latest/);
    expect(isImageReference(input)).toBe(false);
  });

  it.each([undefined, null, 42, {}, ['ubuntu']])('refuses a non-string %j', (input) => {
    expect(() => parseImageReference(input)).toThrow(/not a string/);
  });

  it('never accepts an unclean path (an empty, "." or ".." segment): the engine would answer with a redirect', () => {
    const segment = fc.constantFrom('', '.', '..', 'a', 'b1', 'c.d', 'e_f');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.option(fc.constantFrom(':t', ':1.0')), (segments, tag) => {
        const input = `${segments.join('/')}${tag ?? ''}`;
        const unclean = segments.some((s) => s === '' || s === '.' || s === '..');
        if (unclean) expect(isImageReference(input), input).toBe(false);
      }),
    );
  });

  it('agrees with a straightforward regular expression of the grammar on random input', () => {
    const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
    const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
    const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
    const grammar = new RegExp(`^((?:${domain}/)?${component}(?:/${component})*)(?::(\\w[\\w.-]{0,127}))?$`);
    const wholeDomain = new RegExp(`^${domain}$`);
    const alphabet = fc.constantFrom(...'ab0_.-/:AZ'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { minLength: 1, maxLength: 12 }), (chars) => {
        const input = chars.join('');
        // The regular expression alone allows what normalization refuses: uppercase in the path, or
        // a first component read as a domain (it holds a '.' or ':') that is no valid domain, such as
        // `b.b_a/b`. Compare only where they agree by design.
        const match = grammar.exec(input);
        if (isImageReference(input)) expect(match, input).not.toBeNull();
        const slash = input.indexOf('/');
        const first = slash === -1 ? '' : input.slice(0, slash);
        const readAsDomain = /[.:]/.test(first) || first === 'localhost';
        const domainAgrees = !readAsDomain || wholeDomain.test(first);
        if (match && domainAgrees && input === input.toLowerCase()) expect(isImageReference(input), input).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
