using EventIngest.Ingest;
using Microsoft.Extensions.Options;

namespace EventIngest.Tests.Ingest;

public class QueueRouterTests
{
    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("app/account.*", "app/account.created", true)]
    [InlineData("app/account.*", "app/accounts", false)]
    [InlineData("app/*.created", "app/user.created", true)]
    [InlineData("app/*.created", "app/user.deleted", false)]
    [InlineData("app/x", "app/x", true)]
    [InlineData("app/x", "app/xy", false)]
    public void PatternsMatchWithStarAsAnyRun(string pattern, string name, bool matches) =>
        Assert.Equal(matches, QueueRouter.Matches(pattern, name));

    [Fact]
    public void EventGoesToEveryMatchingRouteOrTheDefault()
    {
        var router = new QueueRouter(Options.Create(new RoutingOptions
        {
            DefaultQueue = "events",
            Routes = [new Route { Pattern = "app/account.*", Queue = "accounts" }, new Route { Pattern = "app/*", Queue = "audit" }],
        }));
        Assert.Equal(["accounts", "audit"], router.QueuesFor("app/account.created", "01K0000000000000000000000A"));
        Assert.Equal(["audit"], router.QueuesFor("app/order.paid", "01K0000000000000000000000A"));
        Assert.Equal(["events"], router.QueuesFor("billing/invoice.sent", "01K0000000000000000000000A"));
    }
}
