# language: zh-CN
功能: 期中变动:农户换网格、村民换户、农户颜色变化
  每条记录按事件发生当天的归属计算:当天所在的网格、当天所属的农户、当天的颜色。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
      | H2   | G2   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
      | M1   | H2   | 是   |
    并且 规则文件如下:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
      event_types:
        - {key: wedding, name: 婚事新办, subject: person}
        - {key: yard, name: 美丽庭院, subject: household}
        - {key: visit, name: 入户走访, subject: person, household: true}
      rules:
        - {id: Y2, name: 婚事新办, point_type: moral, event: wedding, points: {fixed: 10}}
        - {id: Y3, name: 美丽庭院示范户, point_type: moral, event: yard, points: {fixed: 15}}
        - id: V1
          name: 走访联系户
          point_type: work
          event: visit
          points: {fixed: 1}
          multiplier: {by: tier, values: {yellow: 1, orange: 1.5, red: 2}}
      """

  场景: 农户年中换网格,每条记录算在当天所在的网格,各期排在该期最近所在的网格
    假如 农户 H1 自 2026-07-01 起划入网格 G2
    当 录入以下事件:
      | 编号 | 类型 | 时间             | 农户 |
      | y1   | yard | 2026-06-30 23:00 | H1   |
      | y2   | yard | 2026-07-01 08:00 | H1   |
    那么 事件 y1 按规则 Y3 的记录在网格 G1
    并且 事件 y2 按规则 Y3 的记录在网格 G2
    并且 H1 的 moral 在 2026-06 网格 G1 的得分为 15
    并且 H1 的 moral 在 2026-07 网格 G2 的得分为 15
    # 全年排在最近一次得分时所在的网格
    并且 H1 的 moral 在 2026 网格 G2 的得分为 30
    并且 H1 的 moral 在 2026 网格 G1 的得分为 0
    并且 H1 的 moral 在 2026 的得分为 30
    并且 H1 的 moral 余额为 30

  场景: 村民年中迁入另一户,户积分记入当天所属的户,仍注明由谁挣得
    假如 村民 P1 自 2026-05-01 起迁入农户 H2
    当 录入以下事件:
      | 编号 | 类型    | 时间             | 村民 |
      | w1   | wedding | 2026-04-30 20:00 | P1   |
      | w2   | wedding | 2026-05-01 10:00 | P1   |
    那么 事件 w1 按规则 Y2 的记录记在农户 H1 名下,由 P1 挣得
    并且 事件 w2 按规则 Y2 的记录记在农户 H2 名下,由 P1 挣得
    并且 H1 的 moral 余额为 10
    并且 H2 的 moral 余额为 10
    并且 事件 w2 按规则 Y2 的记录在网格 G2

  场景: 农户颜色年中变化,倍数从变化当天起改变
    假如 农户 H1 自 2026-03-01 起颜色为 red
    当 录入以下事件:
      | 编号 | 类型  | 时间             | 村民 | 农户 |
      | v1   | visit | 2026-02-28 10:00 | M1   | H1   |
      | v2   | visit | 2026-03-01 10:00 | M1   | H1   |
    那么 事件 v1 按规则 V1 记 1 分
    并且 事件 v2 按规则 V1 记 2 分,说明为:
      """
      基础分 +1
      农户分类为红色,× 2 = +2
      """
    并且 M1 的 work 余额为 3
