#!/opt/bin/php
<?php
// The fix: after init, loop forever on the Runtime API - next, handle,
// respond - and report errors instead of dying, so the environment is reused
// and init is paid once.
require __DIR__ . '/vendor/autoload.php';

$api = 'http://' . getenv('AWS_LAMBDA_RUNTIME_API') . '/2018-06-01/runtime';
$app = require __DIR__ . '/bootstrap/app.php';
$app->boot();

while (true) {
    $headers = [];
    $ch = curl_init("$api/invocation/next");
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($ch, CURLOPT_HEADERFUNCTION, function ($ch, $line) use (&$headers) {
        $parts = explode(':', $line, 2);
        if (count($parts) === 2) {
            $headers[strtolower(trim($parts[0]))] = trim($parts[1]);
        }
        return strlen($line);
    });
    $event = json_decode(curl_exec($ch), true);
    curl_close($ch);
    $requestId = $headers['lambda-runtime-aws-request-id'];

    try {
        $body = json_encode($app->handle($event));
        $path = "$api/invocation/$requestId/response";
    } catch (Throwable $error) {
        $body = json_encode([
            'errorType' => get_class($error),
            'errorMessage' => $error->getMessage(),
        ]);
        $path = "$api/invocation/$requestId/error";
    }
    $ch = curl_init($path);
    curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_exec($ch);
    curl_close($ch);
}
