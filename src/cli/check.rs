//! `sheetsync check`: validates the config, then (when it can reach them) the
//! credentials, scopes, locations, sales channels (`sync.publish_to`) and sheet headers.
//! Writes nothing anywhere.

use super::{Cli, Failure};
use crate::engine::Engine;
use crate::report::ExitStatus;
use crate::sheet::parse;

/// A guard's limit as `check` shows it: "off" when the config switched it off.
fn guard(limit: rust_decimal::Decimal) -> String {
    if limit == crate::config::GUARD_OFF {
        "off".to_owned()
    } else {
        limit.to_string()
    }
}

pub async fn run(cli: &Cli) -> Result<ExitStatus, Failure> {
    let (path, config) = super::load_config(cli)?;
    println!("config {}: ok", path.display());
    println!("  shop:        {}", config.shop_name());
    println!(
        "  sheet:       {} tab {:?}",
        config.sheet.spreadsheet_id, config.sheet.tab
    );
    let columns: Vec<String> = config
        .column_specs()
        .iter()
        .map(|s| format!("{:?}", s.header))
        .collect();
    println!("  columns:     {}", columns.join(", "));
    println!(
        "  policy:      {}; guards: change ratio {}, price change {}",
        match config.sync.inventory {
            crate::config::Policy::ThreeWay => "three_way",
            crate::config::Policy::SheetWins => "sheet_wins",
        },
        guard(config.sync.max_change_ratio),
        guard(config.sync.max_price_change)
    );
    println!("  state dir:   {}", config.sync.state_dir.display());
    if config.woocommerce.is_some() {
        let worst = super::auth::woocommerce_for_check(&config).await;
        if worst != ExitStatus::Done {
            return Ok(worst);
        }
    } else {
        super::auth::describe_for_check(&config);
    }

    let engine = Engine::connect_with(config, true).await?;
    let (currency, locations) = engine.read_store_meta().await?;
    println!("store: reachable, currency {currency}, required scopes granted");
    for (name, id) in &locations {
        println!("  location {name:?}: {id}");
    }
    let channels = engine.publish_channels().await?;
    for c in &channels {
        println!("  publish to {:?}: {}", c.name, c.id);
    }
    let cfg = &engine.config;
    let rows = engine
        .sheets
        .header_rows(&cfg.sheet.spreadsheet_id, &cfg.sheet.tab, 30)
        .await?;
    let layout = parse::locate(&cfg.sheet.tab, &rows, &cfg.column_specs_for(&rows))?;
    println!("sheet: reachable, header row {}", layout.header_row);
    for (spec, col) in &layout.columns {
        println!(
            "  {:?} in column {}",
            spec.header,
            crate::model::column_letters(*col)
        );
    }
    println!("check: ok");
    Ok(ExitStatus::Done)
}
