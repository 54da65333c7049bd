-- Workers give sessions of anonymous callers (open Piston mode: no token,
-- counted by client address in execbox_session_clients) a wall of their own
-- (EXECBOX_ANONYMOUS_ISOLATION): the claim reads whether a session is
-- tagged with a client address.

grant select on public.execbox_session_clients to execbox_worker;
create policy "execbox workers see which sessions anonymous callers made" on public.execbox_session_clients
  for select to execbox_worker using (true);
