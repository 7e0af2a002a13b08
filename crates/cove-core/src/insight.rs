//! Insight: KPIs, funnels and reports over the brand's data.
