// The wire format at the byte level: what Mender's Go peers decode, and what we refuse.
import test from 'ava';
import { decode, encode } from '@msgpack/msgpack';
import { decodeMessage, encodeMessage, isRegularMode, ProtocolError, PROTO, MAX_FRAME_BYTES } from './protocol.js';

test('integer properties go out as msgpack int64 (0xd3), empty fields are left out, and it round-trips', (t) => {
  const bytes = encodeMessage({ hdr: { proto: PROTO.fileTransfer, typ: 'file_chunk', sid: 's1', props: { offset: 4096, name: 'x' } }, body: Uint8Array.of(1, 2, 3) });
  const at = Buffer.from(bytes).indexOf(Buffer.from('offset'));
  t.is(bytes[at + 6], 0xd3, 'offset is an int64');
  t.deepEqual(decode(bytes), { hdr: { proto: 2, typ: 'file_chunk', sid: 's1', props: { offset: 4096, name: 'x' } }, body: Uint8Array.of(1, 2, 3) });
  t.deepEqual(decodeMessage(bytes), { hdr: { proto: 2, typ: 'file_chunk', sid: 's1', props: { offset: 4096, name: 'x' } }, body: Uint8Array.of(1, 2, 3) });
  t.deepEqual(decode(encodeMessage({ hdr: { proto: PROTO.control, typ: 'ping' } })), { hdr: { proto: 0xffff, typ: 'ping' } });
});

test('malformed frames are ProtocolErrors that say what is wrong', (t) => {
  const bad: Array<[Uint8Array, RegExp]> = [
    [Uint8Array.of(0xc1), /not msgpack/],
    [encode([1, 2]), /not a msgpack map/],
    [encode({ body: Uint8Array.of(1) }), /no "hdr" map/],
    [encode({ hdr: { proto: 9, typ: 'x' } }), /unknown protocol 9/],
    [encode({ hdr: { proto: 1, typ: 7 } }), /"hdr.typ" must be a string/],
    [encode({ hdr: { proto: 1, typ: 'x', props: [1] } }), /"hdr.props" must be a map/],
    [encode({ hdr: { proto: 1, typ: 'x' }, body: 'text' }), /"body" must be binary/],
    [new Uint8Array(MAX_FRAME_BYTES + 1), /larger than/],
  ];
  for (const [frame, re] of bad) t.throws(() => decodeMessage(frame), { instanceOf: ProtocolError, message: re });
});

test('a regular file mode: Go os.FileMode without type bits, or st_mode with S_IFREG', (t) => {
  t.true(isRegularMode(0o644));
  t.true(isRegularMode(0o100644));
  t.false(isRegularMode((1 << 31) | 0o755), 'Go directory');
  t.false(isRegularMode(0o040755), 'unix directory');
  t.false(isRegularMode((1 << 27) | 0o777), 'Go symlink');
});
