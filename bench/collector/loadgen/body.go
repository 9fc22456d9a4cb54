package main

import "strconv"

// The event of the benchmark: a Segment track call as the browser tag sends
// it, about 1 KB. Keep in sync with bench/collector/wrk/event.lua.
const (
	eventHead = `{"type":"track","messageId":"`
	eventTail = `","anonymousId":"3f1c2a8e-5d4b-4e8f-9a21-7c3b6d0e1f42","event":"Product Added",` +
		`"properties":{"product_id":"p-1001","sku":"TEE-BLU-M","name":"Blue tee","brand":"Sillage","category":"apparel.tshirt",` +
		`"variant":"blue","size":"M","price":19.9,"currency":"EUR","quantity":1,"position":3,"list_id":"summer-sale","coupon":"SUMMER10"},` +
		`"timestamp":"2024-06-01T11:59:58.250Z","sentAt":"2024-06-01T11:59:59Z",` +
		`"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",` +
		`"locale":"fr-FR","timezone":"Europe/Paris","library":{"name":"sillage.js","version":"0.1.0"},` +
		`"screen":{"width":1920,"height":1080,"density":1},` +
		`"page":{"url":"https://shop.example/p/1001?utm_source=newsletter&utm_medium=email","path":"/p/1001","referrer":"https://www.google.com/",` +
		`"title":"Blue tee - Sillage shop","search":"?utm_source=newsletter&utm_medium=email"},` +
		`"campaign":{"source":"newsletter","medium":"email","name":"summer-sale"},` +
		`"consent":{"categoryPreferences":{"analytics":true,"marketing":false,"advertising":false,"functional":true}}}}`
)

// appendEvent appends one event whose messageId is id.
func appendEvent(b []byte, id string) []byte {
	b = append(b, eventHead...)
	b = append(b, id...)
	return append(b, eventTail...)
}

// appendBatch appends a /v1/batch body of n events, messageIds id-1…id-n.
func appendBatch(b []byte, id string, n int) []byte {
	b = append(b, `{"sentAt":"2024-06-01T11:59:59Z","batch":[`...)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = appendEvent(b, id+"-"+strconv.Itoa(i))
	}
	return append(b, "]}"...)
}
