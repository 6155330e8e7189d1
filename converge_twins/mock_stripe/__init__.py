"""mock-stripe: customers, products, prices, checkout, subscriptions, portal, signed webhooks."""
