# language: zh-CN
功能: 幂等(idempotency):同一事件只计一次
  每个事件有编号;同一编号再次送来(同一批或之后的批次)不再计分,并说明原因。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
    并且 规则文件如下:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
      event_types:
        - {key: wedding, name: 婚事新办, subject: person}
      rules:
        - {id: Y2, name: 婚事新办, point_type: moral, event: wedding, points: {fixed: 10}}
      """

  场景: 同一批里出现两次只计一次
    当 录入以下事件:
      | 编号 | 类型    | 时间             | 村民 |
      | w1   | wedding | 2026-04-01 09:00 | P1   |
      | w1   | wedding | 2026-04-01 09:00 | P1   |
    那么 H1 的 moral 余额为 10
    并且 H1 共有 1 条 moral 记录

  场景: 同一批再次送来,全部标为已记录过
    假如 已录入以下事件:
      | 编号 | 类型    | 时间             | 村民 |
      | w1   | wedding | 2026-04-01 09:00 | P1   |
      | w2   | wedding | 2026-04-02 09:00 | P1   |
    当 再次录入同一批事件
    那么 事件 w1 的结果为“已记录过”
    并且 事件 w2 已记录过,提示:
      """
      w2: 该事件已记录过(编号 w2),本次未重复记分
      w2: this event was recorded before (id w2); not counted again
      """
    并且 H1 的 moral 余额为 20
    并且 H1 的 moral 在 2026-04 的得分为 20
    并且 H1 共有 2 条 moral 记录

  场景: 退回的记录改正后可以再次送来
    当 录入以下事件:
      | 编号 | 类型    | 时间             | 村民 |
      | w1   | wedding | 2026-04-01 09:00 | P9   |
    那么 事件 w1 被退回,提示:
      """
      w1 [person]: 找不到村民 “P9”,请核对编号或先导入户籍名册
      w1 [person]: no villager 'P9'; check the code or import the household roll first
      """
    当 录入以下事件:
      | 编号 | 类型    | 时间             | 村民 |
      | w1   | wedding | 2026-04-01 09:00 | P1   |
    那么 事件 w1 的结果为“已记分”
    并且 H1 的 moral 余额为 10
