#!/opt/bin/php
<?php
// A PHP CLI bootstrap that never polls: it does its start-up work and then ends (or blocks)
// without ever calling GET /runtime/invocation/next. Lambda waits for init to finish, times
// init out after 10 s, re-runs it inside the first invoke, and that invoke times out too —
// on every request. lctrace reports it as `never_polled`.
require __DIR__ . '/vendor/autoload.php';

$app = require __DIR__ . '/bootstrap/app.php';   // framework boot: config, container, DB pool
$app->boot();

// BUG: the loop below was never written (or sits behind an `if` that is false in Lambda).
// The script reaches its end, or waits forever on a queue/socket, and never asks for an event.
$app->run();   // e.g. a long-running worker that listens on something other than the Runtime API
