package schemas

import (
	"context"
	"testing"
)

// benchRaw is a typical browser event as the collector writes it.
func benchRaw() RawEvent {
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	return RawEvent{
		EventID: "3f9a1c2e-8b7d-4e6f-9a0b-1c2d3e4f5a6b", Source: "shop-web", Type: "track", Event: "Product Added",
		AnonymousID: "a7c3e9f1-2b4d-4c6e-8f0a-1b3d5e7f9a2c", Timestamp: 1714035600123, SentAt: 1714035600456, ReceivedAt: 1714035600789,
		IP: "81.2.69.142", UserAgent: ua,
		ClientHints: map[string]string{
			"sec-ch-ua":          `"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"`,
			"sec-ch-ua-mobile":   "?0",
			"sec-ch-ua-platform": `"Windows"`,
		},
		PageURL:  "https://shop.example.com/products/trail-runner-2?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
		PagePath: "/products/trail-runner-2", PageReferrer: "https://www.google.com/", PageTitle: "Trail Runner 2 – Shop Example",
		Locale: "fr-FR", LibraryName: "sillage.js", LibraryVersion: "0.3.1",
		ContextJSON: `{"page":{"path":"/products/trail-runner-2","referrer":"https://www.google.com/","search":"?utm_source=newsletter&utm_medium=email&utm_campaign=spring",` +
			`"title":"Trail Runner 2 – Shop Example","url":"https://shop.example.com/products/trail-runner-2?utm_source=newsletter&utm_medium=email&utm_campaign=spring"},` +
			`"library":{"name":"sillage.js","version":"0.3.1"},"locale":"fr-FR","screen":{"width":1920,"height":1080,"density":1},"timezone":"Europe/Paris",` +
			`"campaign":{"source":"newsletter","medium":"email","name":"spring"},"userAgent":"` + ua + `"}`,
		PropertiesJSON: `{"product_id":"SKU-48213","sku":"TR2-BLK-42","category":"Shoes","name":"Trail Runner 2","brand":"Example","variant":"black","price":129.9,"quantity":1,"currency":"EUR"}`,
		TraitsJSON:     `{}`,
		Consent:        Consent{Necessary: true, Analytics: true, Personalisation: true},
		ConsentSignal:  ConsentSignal{Origin: "tag", CategoriesJSON: `{"analytics":true,"personalisation":true,"marketing":false,"advertising":false}`},
	}
}

func benchEnriched() EnrichedEvent {
	return EnrichedEvent{
		Raw: benchRaw(), ProfileID: "a7c3e9f1-2b4d-4c6e-8f0a-1b3d5e7f9a2c", EventTime: 1714035600456, ClockSkewMs: -333,
		SessionID: "a7c3e9f1-2b4d-4c6e-8f0a-1b3d5e7f9a2c:17", SessionIndex: 17,
		Geo: Geo{CountryCode: "FR", Country: "France", Region: "Île-de-France", City: "Paris", PostalCode: "75001",
			Latitude: 48.8566, Longitude: 2.3522, TimeZone: "Europe/Paris", ASN: 3215, ASOrg: "Orange"},
		UA:         UserAgent{Browser: "Chrome", BrowserVersion: "124.0.0", OS: "Windows", OSVersion: "10", Device: "Other"},
		Referrer:   Referrer{Medium: "search", Source: "Google", Host: "www.google.com"},
		Campaign:   Campaign{Source: "newsletter", Medium: "email", Name: "spring"},
		EnrichedAt: 1714035600999,
	}
}

// BenchmarkSerde compares the goavro path (native maps) with the direct codec
// through the public Serde API, encoding into a reused buffer.
func BenchmarkSerde(b *testing.B) {
	raw, enriched := benchRaw(), benchEnriched()
	direct, viaGoavro := newTestSerdes(b)
	ctx := context.Background()
	for _, c := range []struct {
		kind   Kind
		v      Nativer
		decode func(*Serde, []byte) error
	}{
		{KindRaw, &raw, func(s *Serde, d []byte) error { _, err := s.DecodeRaw(ctx, d); return err }},
		{KindEnriched, &enriched, func(s *Serde, d []byte) error { _, err := s.DecodeEnriched(ctx, d); return err }},
	} {
		data, err := direct.Encode(c.kind, c.v, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []struct {
			name string
			s    *Serde
		}{{"goavro", viaGoavro}, {"direct", direct}} {
			b.Run(string(c.kind)+"/encode/"+p.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				buf := make([]byte, 0, 4096)
				for b.Loop() {
					if _, err := p.s.Encode(c.kind, c.v, buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(string(c.kind)+"/decode/"+p.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if err := c.decode(p.s, data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
