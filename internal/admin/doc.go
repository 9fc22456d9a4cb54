// Package admin is the admin HTTP server (default :8081): Prometheus metrics,
// health and readiness, the schema registry API of the embedded default,
// and (added by later stages) privacy requests and profile views.
//
// Every endpoint but /healthz, /readyz and read-only schema registry calls
// requires "Authorization: Bearer <token>", compared in constant time. With
// no token configured the protected endpoints answer 503, never open.
package admin
