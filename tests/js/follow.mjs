// Drives examples/realtime-session.mjs with the real @supabase/supabase-js,
// against the real PostgREST behind the gateway stand-in and the Realtime
// stand-in the Rust test serves. Prints one JSON event
// per line for the test to check.
//
//   SUPABASE_URL, SUPABASE_ANON_KEY, ACCESS_TOKEN, CODE, MODE
//   MODE=example: as the example is written.
//   MODE=subscribe-first: the mistake the example warns against (a private
//   channel subscribed before the token is set).
import { createClient } from '@supabase/supabase-js';
import { runSession } from '../../examples/realtime-session.mjs';

const say = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const { SUPABASE_URL, SUPABASE_ANON_KEY, ACCESS_TOKEN, CODE, MODE } = process.env;

const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY, {
  auth: { persistSession: false, autoRefreshToken: false },
  global: { headers: { Authorization: `Bearer ${ACCESS_TOKEN}` } },
});

try {
  if (MODE === 'subscribe-first') {
    const channel = supabase.channel(`session:${crypto.randomUUID()}`, { config: { private: true } });
    const state = await new Promise((resolve) =>
      channel.subscribe((s, err) => {
        if (s !== 'SUBSCRIBED' && s !== 'CHANNEL_ERROR' && s !== 'TIMED_OUT') return;
        resolve({ state: s, error: err?.message ?? null });
      }),
    );
    say({ subscribed: state });
  } else {
    const run = await runSession(supabase, ACCESS_TOKEN, { language: 'python', code: CODE }, {
      onLine: (line) => say({ line }),
      onStatus: (status) => say({ status }),
    });
    say({ done: await run.done });
    await run.stop();
  }
} catch (e) {
  say({ error: String(e?.message ?? e) });
}
await supabase.removeAllChannels();
process.exit(0);
