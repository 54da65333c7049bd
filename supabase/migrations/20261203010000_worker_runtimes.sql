-- Workers differ: each says which runtimes its Docker engine has the images
-- for, and claims only sessions it can run. Null: a worker that does not
-- say (an older version), taken as able to run any.
alter table public.execbox_workers add column runtimes text[];
comment on column public.execbox_workers.runtimes is
  'The runtimes (languages) whose images this worker''s engine has; it claims only sessions in these.';
