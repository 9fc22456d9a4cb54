// Package replay turns the REES46 e-commerce clickstream (a CSV of view,
// cart and purchase events with user and session ids) into Segment HTTP
// tracking API calls and posts them to a running collector's /v1/batch, so
// real traffic can be pushed through the whole pipeline.
//
// Mapping, one track call per row: view → "Product Viewed", cart → "Product
// Added", remove_from_cart → "Product Removed", purchase → "Order Completed"
// (with a deterministic order_id, revenue = price and a one-item products
// list). userId is the row's user_id, timestamp its event_time (UTC);
// sentAt is not sent by default (Config.SentAt): the rows' times are
// historical facts, and clock-skew correction (receivedAt − (sentAt −
// timestamp)) would add the request's transit time to them, moving events
// that sit exactly on a window or session boundary by a few milliseconds.
// Properties carry product_id, category_id,
// category_code, brand, price, currency "USD", quantity 1 and user_session
// (empty category_code or brand are omitted).
//
// Consent: replayed data is test data treated as consented, so every event
// carries context.consent.categoryPreferences granting every category.
//
// Guarantees: a row always gets the same messageId (derived from its line
// number and content), so re-running a replay or retrying a batch never
// creates a new event for the collector's deduplication to miss; rows are
// sent in file order when Concurrency is 1. A batch is retried with backoff
// on connection errors, timeouts, 408, 429 and 5xx (honouring Retry-After)
// for up to RetryFor, keeping its messageIds; other 4xx answers fail the
// batch at once. Run reports sent, acknowledged and failed counts and
// returns an error if any event was not acknowledged or ctx ended first.
package replay
