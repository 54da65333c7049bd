//! A Judge0 CE 1.13.1-compatible API under `/judge0`, so a Judge0 client's
//! endpoint is `<base>/judge0`. Every submission runs as a `cases` session
//! (its `number_of_runs` are cases); a batch's submissions that share their
//! source and language share one session, compiled once, each with its own
//! token. Authenticated as every route (Judge0's `X-Auth-Token` carries an
//! API key or an access token).

// What utoipa generates for `params(...)` names the types qualified.
#![allow(unused_qualifications)]

mod status;
mod submission;
mod view;
mod wire;

pub(crate) use view::fields_pattern;

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, MethodRouter};
use axum::Json;
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::query;
use super::json::JsonBody;
use super::sessions::{self, Quota};
use super::{ApiState, Authed};
use crate::db::judge0::{NewToken, TokenRow};
use crate::model::{Checker, Mode, Request};
use status::Status;
use submission::Submission;
use view::{Extras, Fields};
use wire::{
    About, BatchBody, BatchItem, BatchParams, ConfigInfo, CreateParams, EncodingParams, Language, LanguageDetail,
    StatusEntry, SubmissionBody, SubmissionView, Submissions, ViewParams,
};

/// Judge0's version this API answers as (the Python SDK picks its language
/// ids by it).
const VERSION: &str = "1.13.1";
/// Most submissions in one batch.
const MAX_BATCH: usize = 20;

/// The routes, relative to the API's root.
pub(crate) fn routes() -> Vec<(&'static str, MethodRouter<ApiState>)> {
    vec![
        ("/judge0/about", get(about)),
        ("/judge0/config_info", get(config_info)),
        ("/judge0/languages", get(languages)),
        ("/judge0/languages/{id}", get(language)),
        ("/judge0/statuses", get(statuses)),
        ("/judge0/submissions", post(create)),
        ("/judge0/submissions/batch", post(create_batch).get(get_batch)),
        ("/judge0/submissions/{token}", get(get_one)),
    ]
}

/// A token as Judge0 writes it: a hyphenated UUID.
fn token(s: &str) -> Option<Uuid> {
    (s.len() == 36).then(|| Uuid::parse_str(s).ok()).flatten()
}

/// A boolean query parameter as Judge0 (Rails) reads one: `true`/`false`
/// in any case, `1`/`0`, or empty for false.
fn flag(name: &str, v: Option<&str>) -> Result<bool, ApiError> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("0") | Some("") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::BadRequest(format!("{name} must be true or false, not {:?}", v.unwrap_or_default()))),
    }
}

/// Judge0's version this API answers as, and what it is.
#[utoipa::path(get, path = "/judge0/about", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])), responses(
    (status = 200, description = "`version` is 1.13.1", body = About), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody)))]
async fn about(Authed(_): Authed) -> Json<About> {
    Json(About {
        version: VERSION,
        homepage: "https://github.com/execbox",
        source_code: "https://github.com/execbox",
        maintainer: "execbox (a Judge0 CE-compatible API; not Judge0)",
        execbox: env!("CARGO_PKG_VERSION"),
    })
}

/// Judge0's configuration fields, as this server's limits make them.
#[utoipa::path(get, path = "/judge0/config_info", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])), responses(
    (status = 200, description = "Judge0's configuration object", body = ConfigInfo), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody)))]
async fn config_info(State(st): State<ApiState>, Authed(_): Authed) -> Json<ConfigInfo> {
    let l = &st.cfg.limits;
    let secs = |ms: u64| ms as f64 / 1000.0;
    Json(ConfigInfo {
        maintenance_mode: false,
        enable_wait_result: true,
        enable_compiler_options: false,
        allowed_languages_for_compile_options: Vec::new(),
        enable_command_line_arguments: true,
        enable_submission_delete: false,
        enable_callbacks: false,
        callbacks_max_tries: 0,
        callbacks_timeout: 0.0,
        enable_additional_files: false,
        max_queue_size: 10000,
        cpu_time_limit: submission::DEFAULT_CPU_TIME_LIMIT.min(secs(l.max_cpu_time_ms)),
        max_cpu_time_limit: secs(l.max_cpu_time_ms),
        cpu_extra_time: 0.0,
        max_cpu_extra_time: 0.0,
        wall_time_limit: submission::DEFAULT_WALL_TIME_LIMIT.min(secs(l.max_timeout_ms)),
        max_wall_time_limit: secs(l.max_timeout_ms),
        memory_limit: submission::DEFAULT_MEMORY_LIMIT_KB.min(l.max_memory_mb * 1024),
        max_memory_limit: l.max_memory_mb * 1024,
        stack_limit: l.max_memory_mb * 1024,
        max_stack_limit: l.max_memory_mb * 1024,
        max_processes_and_or_threads: l.pids_limit,
        max_max_processes_and_or_threads: l.pids_limit,
        enable_per_process_and_thread_time_limit: false,
        allow_enable_per_process_and_thread_time_limit: false,
        enable_per_process_and_thread_memory_limit: false,
        allow_enable_per_process_and_thread_memory_limit: false,
        max_file_size: l.case_output_bytes / 1024,
        max_max_file_size: l.case_output_bytes / 1024,
        number_of_runs: 1,
        max_number_of_runs: submission::MAX_NUMBER_OF_RUNS,
        redirect_stderr_to_stdout: false,
        max_extract_size: 0,
        enable_batched_submissions: true,
        max_submission_batch_size: MAX_BATCH,
        submission_cache_duration: 0.0,
        use_docs_as_homepage: false,
        enable_network: false,
        allow_enable_network: false,
    })
}

/// `[{id, name}]`, one per Judge0 id execbox runs.
#[utoipa::path(get, path = "/judge0/languages", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])), responses(
    (status = 200, description = "The languages", body = Vec<Language>), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody)))]
async fn languages(State(st): State<ApiState>, Authed(_): Authed) -> Json<Vec<Language>> {
    let mut list: Vec<Language> = st
        .runtimes
        .all()
        .iter()
        .filter_map(|rt| rt.judge0.as_ref())
        .flat_map(|j| j.ids.iter().map(move |id| Language { id: i64::from(*id), name: j.name.clone() }))
        .collect();
    list.sort_by(|a, b| (a.id, &a.name).cmp(&(b.id, &b.name)));
    Json(list)
}

#[utoipa::path(get, path = "/judge0/languages/{id}", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(("id" = i64, Path, description = "A Judge0 language id (another text is no language: 404)")),
    responses(
        (status = 200, description = "The language", body = LanguageDetail), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody),
        (status = 404, description = "No such language", body = crate::api::error::ErrorBody)))]
async fn language(
    State(st): State<ApiState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<LanguageDetail>, ApiError> {
    let (id, rt) = id
        .parse::<i64>()
        .ok()
        .and_then(|n| Some((n, st.runtimes.by_judge0_id(n)?)))
        .ok_or_else(|| ApiError::NotFound(format!("no language with id {id}")))?;
    Ok(Json(LanguageDetail {
        id,
        name: rt.judge0.as_ref().map(|j| j.name.clone()).unwrap_or_default(),
        is_archived: false,
        source_file: rt.entry("").file,
        compile_cmd: rt.compile.as_ref().map(shell_words::join),
        run_cmd: shell_words::join(&rt.run),
    }))
}

#[utoipa::path(get, path = "/judge0/statuses", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])), responses(
    (status = 200, description = "Judge0's 14 statuses", body = Vec<StatusEntry>), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody)))]
async fn statuses(Authed(_): Authed) -> Json<Vec<StatusEntry>> {
    Json(Status::ALL.into_iter().map(StatusEntry::from).collect())
}

/// Creates the sessions for `subs` (grouped by source and language, each
/// group one session) and their tokens; the tokens in `subs`' order. The
/// caller was admitted once for them all (a batch is one request).
async fn submit(st: &ApiState, user: Uuid, subs: &[Submission<'_>]) -> Vec<Result<Uuid, String>> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, s) in subs.iter().enumerate() {
        let same = |g: &&mut (usize, Vec<usize>)| {
            let first = &subs[g.0];
            first.runtime.language == s.runtime.language && first.source == s.source
        };
        match groups.iter_mut().find(same) {
            Some(g) => g.1.push(i),
            None => groups.push((i, vec![i])),
        }
    }
    let mut tokens: Vec<Option<Result<Uuid, String>>> = (0..subs.len()).map(|_| None).collect();
    for (first, members) in groups {
        match submit_group(st, user, Quota::Admitted, subs, first, &members).await {
            Ok(ids) => {
                for (i, id) in members.iter().zip(ids) {
                    tokens[*i] = Some(Ok(id));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for i in &members {
                    tokens[*i] = Some(Err(message.clone()));
                }
            }
        }
    }
    tokens.into_iter().map(|t| t.expect("every submission is in a group")).collect()
}

/// One session for a group of submissions of one source; the first one's
/// token is the session's id.
async fn submit_group(
    st: &ApiState,
    user: Uuid,
    quota: Quota,
    subs: &[Submission<'_>],
    first: usize,
    members: &[usize],
) -> Result<Vec<Uuid>, ApiError> {
    let lead = &subs[first];
    let mut cases = Vec::new();
    let mut starts = Vec::new();
    for &i in members {
        starts.push(cases.len() as i32);
        cases.extend(std::iter::repeat_n(subs[i].case.clone(), subs[i].runs as usize));
    }
    let req = Request {
        language: lead.runtime.language.clone(),
        code: lead.source.clone(),
        mode: Mode::Cases,
        cases: Some(serde_json::to_value(cases).map_err(ApiError::internal)?),
        checker: Some(Checker::Lines),
        session_name: Some("judge0".into()),
        ..Default::default()
    };
    let valid = req.validate(&st.runtimes, &st.cfg.limits)?;
    let session = sessions::create(st, user, quota, &valid).await?;
    let tokens: Vec<NewToken> = members
        .iter()
        .zip(&starts)
        .enumerate()
        .map(|(k, (&i, &start))| NewToken {
            token: if k == 0 { session } else { Uuid::new_v4() },
            session_id: session,
            first_case: start,
            runs: subs[i].runs,
            language_id: subs[i].language_id as i32,
            redirect: subs[i].redirect_stderr_to_stdout,
        })
        .collect();
    let mut db = st.pool.get().await?;
    crate::db::judge0::insert(&mut db, user, &tokens).await?;
    Ok(tokens.iter().map(|t| t.token).collect())
}

/// Who may see which tokens: a user their own, the service role any.
fn owner(p: Principal) -> Option<Uuid> {
    match p {
        Principal::User(u) => Some(u),
        Principal::Service => None,
    }
}

/// The views of `tokens`, in their order (None: no such token of this
/// caller's).
async fn views(
    st: &ApiState,
    tokens: &[Uuid],
    who: Option<Uuid>,
    fields: &Fields,
    base64: bool,
) -> Result<Vec<Option<SubmissionView>>, ApiError> {
    let db = st.pool.get().await?;
    let rows = crate::db::judge0::lookup(&db, tokens, who).await?;
    let by_token: HashMap<Uuid, TokenRow> = rows.into_iter().map(|r| (r.token, r)).collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut compile_outputs: HashMap<Uuid, String> = HashMap::new();
    for t in tokens {
        let Some(row) = by_token.get(t) else {
            out.push(None);
            continue;
        };
        let mut extras = Extras {
            language_name: st
                .runtimes
                .by_judge0_id(row.language_id as i64)
                .and_then(|rt| rt.judge0.as_ref())
                .map(|j| j.name.clone())
                .unwrap_or_default(),
            ..Default::default()
        };
        if fields.wants("compile_output") && row.status.is_done() {
            if let std::collections::hash_map::Entry::Vacant(e) = compile_outputs.entry(row.session_id) {
                e.insert(crate::db::judge0::compile_output(&db, row.session_id).await?);
            }
            extras.compile_output = compile_outputs.get(&row.session_id).cloned();
        }
        if row.redirect && fields.wants("stdout") && row.status.is_done() {
            extras.interleaved = Some(crate::db::judge0::case_output(&db, row.session_id, row.first_case).await?);
        }
        out.push(Some(view::view(row, &extras, fields, base64)));
    }
    Ok(out)
}

/// A submission: its token at once, or (`wait=true`) its result.
#[utoipa::path(post, path = "/judge0/submissions", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(CreateParams), request_body = SubmissionBody,
    responses(
        (status = 201, description = "`{token}`, or with `wait=true` the finished submission",
            body = SubmissionView),
        (status = 400, description = "A bad query", body = crate::api::error::ErrorBody), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody),
        (status = 413, description = "Too large", body = crate::api::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::api::error::ErrorBody),
        (status = 422, description = "A submission execbox cannot run (the message says why)", body = crate::api::error::ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = crate::api::error::ErrorBody),
        (status = 503, description = "With wait: too much work queued to run it in time (see Retry-After), or no worker ran it in time", body = crate::api::error::ErrorBody)))]
async fn create(
    State(st): State<ApiState>,
    Authed(p): Authed,
    headers: HeaderMap,
    q: Result<Query<CreateParams>, axum::extract::rejection::QueryRejection>,
    JsonBody(body): JsonBody<SubmissionBody>,
) -> Result<(StatusCode, Json<SubmissionView>), ApiError> {
    let q = query(q)?;
    let user = sessions::acting_user(p, sessions::named_user(&headers)?)?;
    let (base64, wait) = (flag("base64_encoded", q.base64_encoded.as_deref())?, flag("wait", q.wait.as_deref())?);
    let fields = Fields::parse(q.fields.as_deref()).map_err(ApiError::Unprocessable)?;
    let sub = body.parse(base64, &st.runtimes, &st.cfg.limits).map_err(ApiError::Unprocessable)?;
    if wait {
        st.door.enter(&st).await?;
    }
    let token = submit_group(&st, user, Quota::PerUser, std::slice::from_ref(&sub), 0, &[0]).await?.remove(0);
    if !wait {
        let token = SubmissionView { token: Some(token), ..Default::default() };
        return Ok((StatusCode::CREATED, Json(token)));
    }
    let l = &st.cfg.limits;
    let limit = Duration::from_millis(l.max_cases_time_ms + l.max_compile_timeout_ms);
    sessions::wait(&st, token, user, limit).await?;
    let view = views(&st, &[token], Some(user), &fields, base64).await?.remove(0);
    let view = view.ok_or_else(|| ApiError::internal("a submission's token vanished"))?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/judge0/submissions/{token}", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(("token" = Uuid, Path, description = "The submission's token (another text is no submission: 404)"), ViewParams),
    responses(
        (status = 200, description = "The submission", body = SubmissionView),
        (status = 400, description = "A bad query", body = crate::api::error::ErrorBody), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody),
        (status = 404, description = "No such submission of the caller's", body = crate::api::error::ErrorBody),
        (status = 422, description = "Unknown fields", body = crate::api::error::ErrorBody)))]
async fn get_one(
    State(st): State<ApiState>,
    Authed(p): Authed,
    Path(token): Path<String>,
    q: Result<Query<ViewParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SubmissionView>, ApiError> {
    let q = query(q)?;
    let base64 = flag("base64_encoded", q.base64_encoded.as_deref())?;
    let fields = Fields::parse(q.fields.as_deref()).map_err(ApiError::Unprocessable)?;
    let not_found = || ApiError::NotFound(format!("no submission {token}"));
    let id = self::token(&token).ok_or_else(not_found)?;
    views(&st, &[id], owner(p), &fields, base64).await?.remove(0).map(Json).ok_or_else(not_found)
}

/// Up to 20 submissions; those sharing source and language run as one
/// session, compiled once.
#[utoipa::path(post, path = "/judge0/submissions/batch", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(EncodingParams), request_body = BatchBody,
    responses(
        (status = 201, description = "A token per submission, in order (or why its session could not be made)",
            body = Vec<BatchItem>),
        (status = 400, description = "A bad query", body = crate::api::error::ErrorBody), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody),
        (status = 413, description = "Too large", body = crate::api::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::api::error::ErrorBody),
        (status = 422, description = "Not 1 to 20 submissions, or one execbox cannot run (its index says which)", body = crate::api::error::ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = crate::api::error::ErrorBody)))]
async fn create_batch(
    State(st): State<ApiState>,
    Authed(p): Authed,
    headers: HeaderMap,
    q: Result<Query<EncodingParams>, axum::extract::rejection::QueryRejection>,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<(StatusCode, Json<Vec<BatchItem>>), ApiError> {
    let q = query(q)?;
    let user = sessions::acting_user(p, sessions::named_user(&headers)?)?;
    let base64 = flag("base64_encoded", q.base64_encoded.as_deref())?;
    if body.submissions.is_empty() || body.submissions.len() > MAX_BATCH {
        return Err(ApiError::Unprocessable(format!("a batch holds 1 to {MAX_BATCH} submissions")));
    }
    // One bad submission refuses the batch (with its index), so nothing
    // runs of a batch the client must send again.
    let valid: Vec<Submission<'_>> = body
        .submissions
        .iter()
        .enumerate()
        .map(|(i, b)| b.parse(base64, &st.runtimes, &st.cfg.limits).map_err(|e| format!("submissions[{i}]: {e}")))
        .collect::<Result<_, _>>()
        .map_err(ApiError::Unprocessable)?;
    sessions::admit(&st, &st.pool.get().await?, user).await?;
    let out: Vec<BatchItem> = submit(&st, user, &valid)
        .await
        .into_iter()
        .map(|t| match t {
            Ok(token) => BatchItem::Token { token },
            Err(error) => BatchItem::Error { error },
        })
        .collect();
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(get, path = "/judge0/submissions/batch", tag = "judge0", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(BatchParams),
    responses(
        (status = 200, description = "The submissions, in the tokens' order", body = Submissions),
        (status = 400, description = "A bad query", body = crate::api::error::ErrorBody), (status = 401, description = "Missing or refused credentials", body = crate::api::error::ErrorBody),
        (status = 422, description = "Unknown fields", body = crate::api::error::ErrorBody)))]
async fn get_batch(
    State(st): State<ApiState>,
    Authed(p): Authed,
    q: Result<Query<BatchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Submissions>, ApiError> {
    let q = query(q)?;
    let base64 = flag("base64_encoded", q.base64_encoded.as_deref())?;
    let fields = Fields::parse(q.fields.as_deref()).map_err(ApiError::Unprocessable)?;
    let tokens: Vec<Uuid> = q
        .tokens
        .split(',')
        .map(|t| token(t).ok_or_else(|| ApiError::BadRequest(format!("{t:?} is not a token"))))
        .collect::<Result<_, _>>()?;
    if tokens.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!("at most {MAX_BATCH} tokens at once")));
    }
    Ok(Json(Submissions { submissions: views(&st, &tokens, owner(p), &fields, base64).await? }))
}
