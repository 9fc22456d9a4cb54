package sink

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestPromoteCommerce(t *testing.T) {
	cases := []struct {
		name       string
		properties string
		want       EventRow
	}{
		{"none", `{"path":"/home","title":"Home"}`, EventRow{}},
		{"empty", ``, EventRow{}},
		{"product viewed", `{"product_id":"507f1f77","price":18.99,"currency":"USD","quantity":1}`,
			EventRow{ProductID: "507f1f77", Price: ptr(18.99), Currency: "USD", Quantity: ptr(int64(1))}},
		{"numbers as strings", `{"product_id":44600062,"price":"35.79","quantity":"3"}`,
			EventRow{ProductID: "44600062", Price: ptr(35.79), Quantity: ptr(int64(3))}},
		{"order completed", `{"order_id":"50314b8e","revenue":25.00,"total":27.5,"currency":"EUR","products":[{"product_id":"x"}]}`,
			EventRow{OrderID: "50314b8e", Revenue: ptr(25.0), Currency: "EUR"}},
		{"camel case ids", `{"productId":"p1","orderId":"o1"}`, EventRow{ProductID: "p1", OrderID: "o1"}},
		{"nulls and junk", `{"product_id":null,"price":"abc","quantity":1.5,"currency":3,"revenue":{"a":1}}`, EventRow{}},
		{"integral float quantity", `{"quantity":2.0}`, EventRow{Quantity: ptr(int64(2))}},
		{"zero price is a price", `{"price":0}`, EventRow{Price: ptr(0.0)}},
		{"invalid json", `{"price":`, EventRow{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got EventRow
			promoteCommerce(&got, c.properties)
			require.Equal(t, c.want, got)
		})
	}
}
