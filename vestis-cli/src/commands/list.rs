//! `vestis list`: a page of your jobs as a table, or the page as JSON.

use vestis_client::ListOptions;

use crate::cli::ListArgs;
use crate::commands::Context;
use crate::output::table;

pub(crate) async fn run(ctx: &Context, args: ListArgs) -> anyhow::Result<()> {
    let options = ListOptions::page(args.page, args.page_size).status_filter(args.status);
    let client = ctx.client()?;
    let page = client
        .list(&options)
        .await
        .map_err(|e| crate::commands::not_about_a_job(&client, e))?;
    if ctx.out.json {
        ctx.out.document(&page)?;
    } else {
        ctx.out.human(&table(&page, ctx.out.width()))?;
    }
    Ok(())
}
