"""The rules of ELako Chat. Routes (HTML, JSON and SSE alike) stay thin and call these functions;
they raise `elako.errors.ServiceError`s that every surface turns into its own kind of answer."""
