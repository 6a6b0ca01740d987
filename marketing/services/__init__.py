"""Marketing services, one module per area (coupons, campaigns, flash_sale, group_buy, journeys, points_mall)."""
