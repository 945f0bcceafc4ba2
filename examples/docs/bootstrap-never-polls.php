#!/opt/bin/php
<?php
// A PHP CLI bootstrap that never polls: it does its start-up work and then
// ends (or blocks) without ever calling GET /runtime/invocation/next.
// Lambda times init out after 10 s, re-runs it inside the first invoke, and
// that invoke times out too - on every request. lctrace: `never_polled`.
require __DIR__ . '/vendor/autoload.php';

$app = require __DIR__ . '/bootstrap/app.php';  // config, container, DB pool
$app->boot();

// BUG: the event loop was never written (or sits behind an `if` that is
// false in Lambda). The script ends, or waits forever on a queue or socket,
// and never asks the Runtime API for an event.
$app->run();  // e.g. a worker listening on something other than the Runtime API
