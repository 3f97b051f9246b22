"""One thin handler per protocol step: parse the request, call one service, render the answer."""
