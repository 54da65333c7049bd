// Run code with execbox from a browser or Node, and stream its output as it
// is printed, through Supabase Realtime's Broadcast from Database.
//
// The session's lines arrive on the private channel `session:<id>` in
// batches (event `logs`, `{lines: [{seq, stream, stage, message, newline}]}`)
// and its status changes as event `status` (`{status, exit_code,
// end_reason, error, usage}`). Lines printed before the channel joined are
// read back from `execution_logs`; lines are handed over once each, in `seq`
// order, whichever path brought them.

/**
 * @param {import('@supabase/supabase-js').SupabaseClient} supabase
 * @param {string} accessToken the signed-in user's access token
 * @param {{language: string, code: string, stdin?: string}} request
 * @param {{onLine: (line: object) => void, onStatus?: (status: object) => void}} handlers
 * @returns {Promise<{id: string, done: Promise<object>, stop: () => Promise<void>}>}
 */
export async function runSession(supabase, accessToken, request, { onLine, onStatus = () => {} }) {
  // Before any private channel subscribes: a channel joined without the
  // user's token joins as anon, and anon receives nothing.
  await supabase.realtime.setAuth(accessToken);

  const id = crypto.randomUUID();
  let next = 1; // the next seq to hand over
  const early = new Map(); // seq -> line, arrived ahead of a gap
  const take = (line) => {
    if (line.seq < next || early.has(line.seq)) return; // seen: de-duplicate
    early.set(line.seq, line);
    while (early.has(next)) {
      onLine(early.get(next));
      early.delete(next);
      next += 1;
    }
  };

  let finished;
  const done = new Promise((resolve) => (finished = resolve));
  const channel = supabase
    .channel(`session:${id}`, { config: { private: true } })
    .on('broadcast', { event: 'logs' }, ({ payload }) => payload.lines.forEach(take))
    .on('broadcast', { event: 'status' }, ({ payload }) => {
      onStatus(payload);
      if (!['pending', 'running'].includes(payload.status)) finished(payload);
    });
  await new Promise((resolve, reject) =>
    channel.subscribe((state, err) => {
      if (state === 'SUBSCRIBED') resolve();
      else if (state === 'CHANNEL_ERROR' || state === 'TIMED_OUT') reject(err ?? new Error(state));
    }),
  );

  // Subscribed first, then inserted: nothing can be missed. RLS makes the
  // row the signed-in user's.
  const { error } = await supabase
    .from('backend_execution_sessions')
    .insert({ id, language: request.language, code: request.code, stdin: request.stdin ?? null });
  if (error) throw error;

  // Lines written while the channel was joining (and after a reconnect):
  // the table has them all, by seq.
  const replay = async () => {
    const { data, error: readError } = await supabase
      .from('execution_logs')
      .select('seq, stream, stage, message, newline')
      .eq('session_id', id)
      .gte('seq', next)
      .order('seq', { ascending: true });
    if (readError) throw readError;
    data.forEach(take);
  };
  await replay();
  const settled = done.then(async (status) => {
    await replay(); // the final batch may have raced the final status
    return status;
  });
  return { id, done: settled, stop: () => supabase.removeChannel(channel) };
}
