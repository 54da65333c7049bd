"""Drives execbox's Judge0 API with Judge0's own Python SDK (judge0 on
PyPI), unchanged, the way its README shows. Prints one JSON object with what
the SDK saw; tests/it/judge0.rs asserts on it.

usage: judge0-sdk.py <endpoint> <headers as JSON> [quick]
(quick: the client's start and one submission only)
"""

import json
import sys

import judge0

endpoint, headers = sys.argv[1], json.loads(sys.argv[2])
quick = sys.argv[3:] == ["quick"]


def seen(s):
    return {
        "token": str(s.token),
        "status": int(s.status),
        "stdout": s.stdout,
        "stderr": s.stderr,
        "compile_output": s.compile_output,
        "message": s.message,
        "exit_code": s.exit_code,
        "exit_signal": s.exit_signal,
        "time": s.time,
        "wall_time": s.wall_time,
        "memory": s.memory,
        "created_at": s.created_at.isoformat() if s.created_at else None,
        "finished_at": s.finished_at.isoformat() if s.finished_at else None,
    }


# The client reads /languages and /config_info as it starts, /about for
# the version its language aliases follow.
client = judge0.Client(endpoint, headers=headers)
out = {
    "version": client.version,
    "languages": sorted(lang.id for lang in client.languages),
    "batch_size": client.config.max_submission_batch_size,
    "python_supported": client.is_language_supported(judge0.PYTHON),
}

if quick:
    out["single"] = seen(judge0.run(client=client, source_code="print('hi')", language=judge0.PYTHON))
    print(json.dumps(out))
    sys.exit(0)

# One program, judged against test cases (one batch, one session).
doubler = "n = int(input())\nprint(n * 2)\n"
results = judge0.run(
    client=client,
    source_code=doubler,
    language=judge0.PYTHON,
    test_cases=[("1", "2"), ("21", "42"), ("5", "11")],
)
out["cases"] = [seen(s) for s in results]

# A compiled language's cases: compiled once for the batch.
cpp = "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }\n"
results = judge0.run(
    client=client,
    source_code=cpp,
    language=judge0.CPP,
    test_cases=[("1 2", "3"), ("40 2", "42")],
)
out["cpp_cases"] = [seen(s) for s in results]

# One submission each, every outcome the SDK names.
programs = {
    "accepted": (judge0.PYTHON, "print('hi')", None),
    "time_limit": (judge0.PYTHON, "while True: pass", 1.0),
    "compile_error": (judge0.CPP, "int main() { return }", None),
    "nzec": (judge0.PYTHON, "import sys; print('bye', file=sys.stderr); sys.exit(3)", None),
    "sigsegv": (judge0.CPP, "int main() { volatile int *p = 0; return *p; }", None),
}
submissions = [
    judge0.Submission(source_code=code, language=language, cpu_time_limit=limit)
    for language, code, limit in programs.values()
]
results = judge0.run(client=client, submissions=submissions)
out["single"] = {name: seen(s) for name, s in zip(programs, results)}

print(json.dumps(out))
