//! The JSON form posted by the console builder.

use cove_audience::{parse, CmpOp, Expr};

#[test]
fn the_documented_json_form_is_the_same_tree_as_the_text_form() {
    let json = r#"{"and": [
        {"tag": "gaming_laptop_viewer"},
        {"or": [
            {"cmp": {"trait": "total_spend_fen", "op": ">=", "value": 500000}},
            {"not": {"tag": "churn_risk"}}
        ]},
        {"cmp": {"trait": "city", "op": "=", "value": "Shanghai"}},
        {"between": {"trait": "age", "low": 18, "high": 35}},
        {"is_set": "phone"},
        "all"
    ]}"#;
    let from_json: Expr = serde_json::from_str(json).unwrap();
    let from_text = parse(
        r#"tag:gaming_laptop_viewer AND (trait:total_spend_fen >= 500000 OR NOT tag:churn_risk)
           AND trait:city = "Shanghai" AND trait:age BETWEEN 18 AND 35 AND trait:phone IS SET
           AND ALL"#,
    )
    .unwrap();
    assert_eq!(from_json, from_text);
}

#[test]
fn serializing_produces_the_documented_shape() {
    let expr = Expr::Or(vec![
        Expr::num("total_spend_fen", CmpOp::Lt, -1),
        Expr::text("city", CmpOp::Ne, "Beijing").negate(),
    ]);
    let value = serde_json::to_value(&expr).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"or": [
            {"cmp": {"trait": "total_spend_fen", "op": "<", "value": -1}},
            {"not": {"cmp": {"trait": "city", "op": "!=", "value": "Beijing"}}}
        ]})
    );
}

#[test]
fn malformed_json_is_rejected() {
    for bad in [
        r#"{"tag": 5}"#,
        r#"{"cmp": {"trait": "x", "op": "~", "value": 1}}"#,
        r#"{"cmp": {"trait": "x", "op": "=", "value": [1]}}"#,
        r#"{"between": {"trait": "x", "low": 1}}"#,
        r#"{"xor": []}"#,
    ] {
        assert!(serde_json::from_str::<Expr>(bad).is_err(), "accepted {bad}");
    }
}
