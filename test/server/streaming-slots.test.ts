/**
 * The slot accounting behind MAX_WS_CONNECTIONS and MAX_PENDING_WS_PER_ADDRESS.
 */
import { describe, expect, it } from 'vitest';
import { StreamingSlots, clientAddressKey } from '../../src/server/streaming-slots.js';

const slot = <S>(result: { ok: true; slot: S } | { ok: false; message: string }): S => {
  if (!result.ok) throw new Error(`refused: ${result.message}`);
  return result.slot;
};

describe('StreamingSlots', () => {
  it('keeps pending sockets per address, apart from the streaming slots', () => {
    const slots = new StreamingSlots({ maxStreams: 2, maxPendingPerAddress: 2, maxPending: 3 });
    const a1 = slot(slots.openPending('10.0.0.1'));
    slot(slots.openPending('10.0.0.1'));
    expect(slots.openPending('10.0.0.1')).toEqual({ ok: false, message: expect.stringMatching(/from this address .*at most 2/) as string });
    slot(slots.openPending('10.0.0.2'));
    // Three pending in all: the total is full, whatever the address.
    expect(slots.openPending('10.0.0.3')).toEqual({ ok: false, message: expect.stringMatching(/are waiting for connection_init/) as string });
    expect(slots.pending).toBe(3);
    expect(slots.streams).toBe(0);
    // Promotion frees the pending slot and takes a streaming one.
    expect(a1.promote()).toBe(true);
    expect(slots.pendingOf('10.0.0.1')).toBe(1);
    expect(slots.streams).toBe(1);
    slot(slots.openPending('10.0.0.1'));
    a1.release();
    a1.release();
    expect(slots.streams).toBe(0);
    expect(slots.pending).toBe(3);
  });

  it('shares the streaming slots between WebSockets and SSE, and refuses both once they are taken', () => {
    const slots = new StreamingSlots({ maxStreams: 2, maxPendingPerAddress: 5 });
    const sse = slot(slots.openStream());
    const ws = slot(slots.openPending('::1'));
    const late = slot(slots.openPending('::1'));
    expect(ws.promote()).toBe(true);
    expect(slots.openStream()).toEqual({
      ok: false,
      message: 'Too many streaming connections (WebSocket and SSE together, at most 2); try again later',
    });
    expect(slots.openPending('::1')).toMatchObject({ ok: false });
    // A pending socket cannot move in while every slot is taken; it stays pending.
    expect(late.promote()).toBe(false);
    expect(slots.pending).toBe(1);
    sse.release();
    expect(late.promote()).toBe(true);
    expect(late.promote()).toBe(true);
    expect(slots.streams).toBe(2);
    late.release();
    ws.release();
    expect(slots.streams).toBe(0);
    expect(slots.pending).toBe(0);
  });
});

describe('clientAddressKey', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:127.0.0.2', '127.0.0.2'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    [undefined, 'unknown'],
  ])('%s counts as %s', (remote, key) => {
    expect(clientAddressKey(remote)).toBe(key);
  });
});
